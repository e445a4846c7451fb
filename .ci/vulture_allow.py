"""Names vulture cannot see in use, for `vulture daemon/switchrole .ci/vulture_allow.py`.

.ci/run also runs this file with Python, so an entry for a name that no longer exists fails the
run instead of hiding dead code for ever.
"""

import ast
from pathlib import Path

from switchrole import wire
from switchrole.agent.watch import _Handler

# watchdog calls it by name.
_Handler.on_any_event  # noqa: B018


class _ReadByKey:
    """Fields of wire's TypedDicts that code reads by string key (``status["expires_in"]``) or
    only the other side reads, which vulture, matching attribute names, cannot see."""

    deliver = expires_at = mfa_expires_at = config_default_has_credentials = None
    version = stopping = endpoint_shells = expires_in = config_errors = mfa_sessions = None
    refreshable = None


_ReadByKey.deliver, _ReadByKey.expires_at, _ReadByKey.mfa_expires_at  # noqa: B018
_ReadByKey.config_default_has_credentials, _ReadByKey.version, _ReadByKey.stopping  # noqa: B018
_ReadByKey.endpoint_shells, _ReadByKey.expires_in, _ReadByKey.config_errors  # noqa: B018
_ReadByKey.mfa_sessions, _ReadByKey.refreshable  # noqa: B018

# Each of them must still be a field of one of wire's TypedDicts.
_tree = ast.parse(Path(wire.__file__).read_text())
_fields = {
    node.target.id
    for node in ast.walk(_tree)
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
}
_stale = {name for name in vars(_ReadByKey) if not name.startswith("_")} - _fields
assert not _stale, f"no longer fields of wire's TypedDicts: {sorted(_stale)}"
