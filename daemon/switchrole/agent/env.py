"""The answer to ``env``: credential data for the client to render, never shell code.

In endpoint mode the answer is instead the loopback endpoint's URL and a token for the asking
shell, and the endpoint resolves the same request again whenever its processes ask, so config
edits and renewals reach them.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import wire
from .config.files import ConfigFiles
from .config.model import Config, Context, Plan
from .credentials import Credentials
from .endpoint import Endpoint, Spec
from .handout import ENV_PATIENCE, Handed, Handout
from .planning import Planner
from .shells import ShellRef, identify, parent_of
from .state import StateFiles

# SDK container providers give up on an endpoint after 2 s (botocore: 3 tries of 2 s each).
ENDPOINT_PATIENCE = 1.5
MAX_WARNED = 4096


def default_has_credentials(config: Config) -> bool:
    """Whether [default] would give SDKs credentials before they reach the container endpoint."""
    keys = ("aws_access_key_id", "role_arn", "credential_process", "sso_session", "sso_start_url")
    return any(config.config_file_default.get(k) for k in (*keys, "web_identity_token_file"))


class EnvHandler:
    def __init__(
        self, planner: Planner, handout: Handout, endpoint: Endpoint, states: StateFiles, files: ConfigFiles
    ) -> None:
        self.planner = planner
        self.handout = handout
        self.endpoint = endpoint
        self.states = states
        self.files = files
        self._warned: set[tuple[int, str]] = set()  # (shell pid, config error) already told

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.EnvAnswer:
        ctx = Context.of(request["ctx"])
        planned = self.planner.plan(request["profile"], ctx)
        shell = identify(request.get("shell_pid") or parent_of(peer_pid))
        handed = self.handout.fresh(
            planned, shell, request.get("mfa_code"), float(request.get("patience", ENV_PATIENCE))
        )
        answer = self._answer(handed, planned.plan)
        answer["warning"] = self._warning(planned.config_error, shell, planned.plan.profile)
        if request.get("mode") != "endpoint":
            creds = handed.creds
            assert creds.expiration is not None and creds.session_token is not None
            answer["credentials"] = {
                "access_key_id": creds.access_key_id,
                "secret_access_key": creds.secret_access_key,
                "session_token": creds.session_token,
                "expiration": wire.rfc3339(creds.expiration),
            }
            return answer
        if shell is None:
            raise wire.Error(wire.BAD_REQUEST, "endpoint mode needs the pid of a live shell of yours")
        # What the endpoint resolves is recorded, so a restarted agent serves the shell's jobs
        # too; the shell's credential variables (a credential_source) are secrets and are not.
        files = wire.context(ctx.config_file, ctx.credentials_file, dict(ctx.env), ctx.user)
        spec: Spec = {"profile": planned.plan.profile, "ctx": files}
        token = self.endpoint.grant(shell, planned.plan.profile, self.credentials_for(request, shell), spec)
        answer["endpoint"] = {"url": self.endpoint.url, "token": token}
        answer["config_default_has_credentials"] = default_has_credentials(
            self.files.last_good(ctx) or Config(sections={})
        )
        return answer

    def _answer(self, handed: Handed, plan: Plan) -> wire.EnvAnswer:
        session, creds, plan_mfa = handed.session, handed.creds, handed.chain.mfa
        assert creds.expiration is not None
        mfa_session = plan_mfa.session() if plan_mfa is not None else None
        return {
            "profile": plan.profile,
            "role_arn": plan.role_arn,
            "arn": creds.arn,
            "region": plan.region,
            "expires_at": int(creds.expiration),
            "refresh_at": int(session.refresh_at()),
            "generation": session.generation,
            "state_file": self.states.path(session),
            "state": session.state(self.handout.store.clock()),
            # A fallback is worth saying once, when it happened, not on every request.
            "notice": creds.notice if session.generation != handed.generation else None,
            "warning": None,
            "mfa_serial": plan_mfa.role_arn if plan_mfa is not None else None,
            # For `switchrole use` to say how long one code still lasts.
            "mfa_expires_at": int(mfa_session.expiration) if mfa_session and mfa_session.creds else None,
        }

    def credentials_for(self, request: wire.Request | Spec, shell: ShellRef) -> Callable[[], Credentials]:
        """What the endpoint calls for a grant's credentials: the request planned again, for the
        grant's shell (so that a grant taken over from a previous agent is renewed ahead too)."""
        checked = wire.check_request(wire.env_request(request["profile"], request["ctx"]))
        ctx = Context.of(checked["ctx"])
        profile = checked["profile"]

        def credentials() -> Credentials:
            return self.handout.fresh(
                self.planner.plan(profile, ctx), shell, patience=ENDPOINT_PATIENCE
            ).creds

        return credentials

    def _warning(self, config_error: str | None, shell: ShellRef | None, profile: str) -> str | None:
        """A config error served around, said once to each shell (every time without one)."""
        if config_error is None:
            return None
        if shell is not None:
            told = (shell.pid, config_error)
            if told in self._warned:
                return None
            if len(self._warned) >= MAX_WARNED:
                self._warned.clear()
            self._warned.add(told)
        return f"{config_error}; {profile} is served from the last version that parsed until it is fixed"
