"""switchrole: AWS role sessions held by a per-user agent, exported into your shell.

This package's top level is imported by the client on every shell call, so it must stay
standard-library only and tiny; the agent lives in ``switchrole.agent`` and is imported lazily.
"""

__version__ = "0.1.0"
