"""The AWS config files, read as botocore reads them, and the plans their profiles resolve to.

``model`` (what a config and a plan are), ``files`` (reading and caching the two files),
``diagnostics`` (where a file stops parsing), ``resolve`` (profile -> plan) and ``listing``
(the rows of `switchrole list`). Only ``files`` imports botocore, and only when it reads.
"""
