"""Where credentials come from, one provider per way, each a ``fetch`` of ``Credentials``.

``static``, ``environment`` (credential_source) and ``profile_sources`` (credential_process, SSO,
web identity, by botocore's own providers) give a chain its first credentials; ``mfa_session``
turns them into an MFA session with a code; ``assume_role`` makes a role of whatever is below
it. ``cached`` keeps any provider's output in the session store, and ``chain`` stacks them for a
plan, bottom-up, as aws-vault's providers stack: nothing recurses through a hub.
"""
