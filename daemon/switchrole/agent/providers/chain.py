"""A plan's providers, stacked bottom-up: the source, the MFA session if a device guards the
chain, then one AssumeRole per hop, each layer above the source cached in the session store.

The top layer is the shell's session; the layers under it are hops, shared with any other
chain that goes through them; the MFA session is shared by every plan with the same source and
device.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.model import Plan, SsoSource
from ..sessions import HOP, MFA, USER, SessionStore
from ..sts import Sts
from .assume_role import AssumeRoleProvider
from .base import Provider
from .cached import Cached
from .mfa_session import MfaSessionProvider, SpentCodes, mfa_margin
from .source import Sources


@dataclass(frozen=True)
class Chain:
    top: Cached
    hops: tuple[Cached, ...] = ()  # the layers under the top, lowest first
    mfa: Cached | None = None


class Chains:
    def __init__(self, store: SessionStore, sts: Sts, spent: SpentCodes, sources: Sources) -> None:
        self.store = store
        self.sts = sts
        self.spent = spent
        self.sources = sources

    def build(self, plan: Plan) -> Chain:
        base: Provider = self.sources.of(plan)
        # Every layer made through an IAM Identity Center sign-in ends with it (logout).
        sso = plan.source.session.key() if isinstance(plan.source, SsoSource) else None
        mfa = None
        if plan.mfa is not None:
            provider = MfaSessionProvider(
                base, plan.mfa, plan.source.profile, plan.profile, self.sts, plan.endpoint, self.spent
            )
            mfa = Cached(
                provider,
                self.store,
                plan.mfa_key(),
                profile=plan.source.profile,
                role_arn=plan.mfa.serial,
                kind=MFA,
                margin=mfa_margin,
                sso=sso,
            )
            base = mfa
        if not plan.hops:
            # A web identity profile (its provider's AssumeRoleWithWebIdentity is the role), or
            # an SSO profile (its permission set's role is).
            return Chain(
                Cached(
                    base,
                    self.store,
                    plan.key(),
                    profile=plan.profile,
                    role_arn=plan.role_arn,
                    kind=USER,
                    sso=sso,
                )
            )
        layers: list[Cached] = []
        for depth, hop in enumerate(plan.hops, 1):
            layer = Cached(
                AssumeRoleProvider(base, hop, self.sts, plan.endpoint),
                self.store,
                plan.upto(depth).key(),
                profile=hop.profile,
                role_arn=hop.role_arn,
                kind=USER if depth == len(plan.hops) else HOP,
                sso=sso,
            )
            layers.append(layer)
            base = layer
        return Chain(layers[-1], tuple(layers[:-1]), mfa)
