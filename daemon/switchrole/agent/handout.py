"""Hand out a plan's credentials: fresh ones, or still-valid ones through an outage, never
expired ones, and never after waiting on STS longer than the asker can afford."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import wire
from .credentials import Credentials, StsError
from .planning import Planned
from .providers.chain import Chain, Chains
from .sessions import Session, SessionStore, StillWaiting
from .shells import ShellRef
from .state import StateFiles

# A person at a terminal waits this long on a hanging STS before being told so.
ENV_PATIENCE = 30.0


def _expired(profile: str, why: str, retryable: bool = False) -> wire.Error:
    return wire.Error(
        wire.EXPIRED_CREDENTIALS,
        f"the credentials for {profile} have expired and could not be renewed",
        why,
        retryable=retryable,
    )


@dataclass(frozen=True)
class Handed:
    session: Session
    creds: Credentials
    chain: Chain
    generation: int  # the session's generation before this request: a new one means news


class Handout:
    def __init__(
        self,
        store: SessionStore,
        chains: Chains,
        states: StateFiles,
        wake: Callable[[], None],
    ) -> None:
        self.store = store
        self.chains = chains
        self.states = states
        self.wake = wake

    def fresh(
        self,
        planned: Planned,
        shell: ShellRef | None,
        code: str | None = None,
        patience: float = ENV_PATIENCE,
    ) -> Handed:
        """The plan's session with credentials that are fresh (or still valid through an outage),
        waiting on STS at most ``patience`` seconds. ``shell`` is remembered as a user of it."""
        ctx, plan = planned.ctx, planned.plan
        chain = self.chains.build(plan)
        session = chain.top.session()
        session.ctx = ctx
        session.below = tuple(layer.key for layer in chain.hops)
        news = shell is not None and session.add_shell(shell)
        generation = session.generation
        try:
            creds = chain.top.get(code, patience)
        except StsError as exc:
            if not exc.retryable:
                raise
            reason: wire.Error = exc
            if isinstance(exc, StillWaiting):
                reason = wire.Error(
                    wire.STS_UNAVAILABLE,
                    f"{plan.endpoint.where()} did not answer within {exc.patience:.0f} s "
                    f"for profile {plan.profile}",
                    "the agent keeps trying; check the network and the endpoint_url / AWS_ENDPOINT_URL_STS",
                    retryable=True,
                )
            if session.creds is not None:
                # What this shell held ran out during the outage: say that, and why.
                raise _expired(plan.profile, f"{reason.message}; {reason.hint}", retryable=True) from None
            raise reason from None
        finally:
            if news or session.generation != generation:
                self.wake()  # a new shell or new credentials: the renewal schedule changed
        if creds.expiration is None or creds.expiration <= self.store.clock():
            raise _expired(plan.profile, session.last_error or "")
        self.states.write(session)
        return Handed(session, creds, chain, generation)
