"""The provider at the bottom of a chain, for the kind of source a plan resolved to."""

from __future__ import annotations

from collections.abc import Callable

from ..config.model import EnvironmentSource, Plan, ProviderSource, Source, SsoSource, StaticKeys
from ..sso.signins import SignIns
from .base import Provider
from .environment import EnvironmentProvider
from .profile_sources import ProfileSourceProvider
from .sso import SsoRoleProvider
from .static import StaticProvider


def source_provider(
    source: Source, region: str | None, clock: Callable[[], float], signins: SignIns, profile: str
) -> Provider:
    """``profile`` is the one asked for: a sign-in it needs is asked for by that name."""
    if isinstance(source, StaticKeys):
        return StaticProvider(source)
    if isinstance(source, EnvironmentSource):
        return EnvironmentProvider(source, clock)
    if isinstance(source, SsoSource):
        return SsoRoleProvider(source, signins, profile)
    assert isinstance(source, ProviderSource)
    return ProfileSourceProvider(source, region, clock)


class Sources:
    """The bottom provider of each plan's chain, with what the kinds of source need."""

    def __init__(self, clock: Callable[[], float], signins: SignIns) -> None:
        self.clock = clock
        self.signins = signins

    def of(self, plan: Plan) -> Provider:
        return source_provider(plan.source, plan.region, self.clock, self.signins, plan.profile)
