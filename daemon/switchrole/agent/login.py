"""The answers to ``login`` and ``logout``: IAM Identity Center sign-ins, never a token.

``login`` names a profile (its sso-session is signed in to) or an sso-session. It joins the
device authorization already pending for that sso-session, or starts one, and answers at once
with the URL and code the person approves in a browser (the client opens it; only the caller
that started the authorization is told ``started``, so one browser tab opens however many
callers wait). With ``wait`` it waits, within its patience, for that approval.
``logout`` forgets the sign-ins, ends them at the portal, and empties the sessions made through
them, whose shells then show that a sign-in is needed.
"""

from __future__ import annotations

from .. import wire
from .config.model import Context, SsoSession, SsoSource
from .config.resolve import sso_session
from .planning import Planner
from .sessions import SessionStore
from .sso.signins import SignIn, SignIns
from .state import StateFiles

_NOT_SSO_HINT = "`switchrole login` is for profiles with sso_session (or a role on top of one)"
# How long one `wait` request waits for the approval before the client asks again.
WAIT_PATIENCE = 60.0


class LoginHandler:
    def __init__(self, planner: Planner, signins: SignIns) -> None:
        self.planner = planner
        self.signins = signins

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.LoginAnswer:
        ctx = Context.of(request["ctx"])
        session = self._session(request, ctx)
        if request.get("wait"):
            signin = self.signins.wait(session, float(request.get("patience", WAIT_PATIENCE)))
            return self._answer(signin, started=False)
        signin, started = self.signins.login(session, force=bool(request.get("force")))
        return self._answer(signin, started)

    def _session(self, request: wire.Request, ctx: Context) -> SsoSession:
        name = request.get("sso_session")
        profile = request.get("profile")
        if name is not None and profile is not None:
            raise wire.Error(wire.BAD_REQUEST, "login takes a profile or an sso-session, not both")
        if name is not None:
            return sso_session(self.planner.files.load(ctx), name, ctx)
        if profile is None:
            raise wire.Error(wire.BAD_REQUEST, "login needs a profile or an sso-session")
        try:
            source = self.planner.plan(profile, ctx).plan.source
        except wire.Error as exc:
            if exc.code != wire.NOT_A_ROLE:
                raise
            raise wire.Error(
                wire.BAD_CONFIG,
                f"profile {profile} does not use IAM Identity Center (it has no sso_session)",
                _NOT_SSO_HINT,
            ) from None
        if isinstance(source, SsoSource):
            return source.session
        kind = getattr(source, "kind", "static keys")
        if kind == "sso":
            raise wire.Error(
                wire.BAD_CONFIG,
                f"profile {profile} signs in with the legacy sso_start_url setting, which switchrole "
                "reads from the AWS CLI's cache only",
                f"run `aws sso login --profile {source.profile}`, or move its settings to an [sso-session]",
            )
        raise wire.Error(
            wire.BAD_CONFIG,
            f"profile {profile} does not use IAM Identity Center (its credentials come from "
            f"{source.profile}, {kind})",
            _NOT_SSO_HINT,
        )

    def _answer(self, signin: SignIn, started: bool) -> wire.LoginAnswer:
        token = self.signins.usable(signin)
        waiting = self.signins.waiting(signin)
        return {
            "sso_session": signin.session.name,
            "start_url": signin.session.start_url,
            "signed_in": token is not None,
            "expires_at": int(token.expires_at) if token is not None else None,
            "authorization": None
            if waiting is None
            else {
                "verification_uri": waiting.verification_uri,
                "verification_uri_complete": waiting.verification_uri_complete,
                "user_code": waiting.user_code,
                "expires_at": int(waiting.expires_at),
            },
            "started": started,
        }


class LogoutHandler:
    def __init__(self, signins: SignIns, store: SessionStore, states: StateFiles) -> None:
        self.signins = signins
        self.store = store
        self.states = states

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.LogoutAnswer:
        ended = self.signins.logout(request.get("sso_session"))
        for signin in ended:
            for session in self.store.signed_out(signin.session.key()):
                self.states.write(session)  # the shells' prompts show that a sign-in is needed
        return {"signed_out": sorted({s.session.name for s in ended})}
