"""The provider at the bottom of a chain, for the kind of source a plan resolved to."""

from __future__ import annotations

from collections.abc import Callable

from ..config.model import EnvironmentSource, ProviderSource, Source, StaticKeys
from .base import Provider
from .environment import EnvironmentProvider
from .profile_sources import ProfileSourceProvider
from .static import StaticProvider


def source_provider(source: Source, region: str | None, clock: Callable[[], float]) -> Provider:
    if isinstance(source, StaticKeys):
        return StaticProvider(source)
    if isinstance(source, EnvironmentSource):
        return EnvironmentProvider(source, clock)
    assert isinstance(source, ProviderSource)
    return ProfileSourceProvider(source, region, clock)
