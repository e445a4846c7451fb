"""From a request to a plan, and from a config edit to the sessions it ends.

A config that stops parsing (a half-saved edit) must not cut shells off from sessions the agent
holds: a profile whose session is held is planned from the last version that parsed, and the
error goes with the answer. Anything else gets the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .. import wire
from .config.files import ConfigFiles
from .config.model import Config, ConfigError, Context, Plan
from .config.resolve import resolve
from .sessions import USER, SessionStore
from .state import StateFiles

log = logging.getLogger("switchrole.agent")


@dataclass(frozen=True)
class Planned:
    ctx: Context
    plan: Plan
    config_error: str | None = None  # the parse error the plan was made despite, if any


class Planner:
    def __init__(
        self, files: ConfigFiles, store: SessionStore, watch: Callable[[str, str], None] = lambda *files: None
    ) -> None:
        self.files = files
        self.store = store
        self.watch = watch

    def plan(self, profile: str, ctx: Context) -> Planned:
        self.watch(ctx.config_file, ctx.credentials_file)
        try:
            return Planned(ctx, resolve(self.files.load(ctx), profile, ctx))
        except ConfigError as exc:
            good = self.files.last_good(ctx) if exc.code == wire.BAD_CONFIG else None
            if good is not None:
                try:
                    plan = resolve(good, profile, ctx)
                except ConfigError:
                    raise exc from None
                held = self.store.find(plan.key())
                if held is not None and self.store.valid(held) is not None:
                    return Planned(ctx, plan, exc.message)
            raise


class Invalidator:
    """Drops the sessions whose definition an edit changed; they are made anew when next asked."""

    def __init__(self, files: ConfigFiles, store: SessionStore, states: StateFiles) -> None:
        self.files = files
        self.store = store
        self.states = states

    def config_changed(self, paths: set[str]) -> None:
        for session in self.store.all():
            ctx = session.ctx
            if session.kind != USER or ctx is None or not {ctx.config_file, ctx.credentials_file} & paths:
                continue
            config: Config | None
            try:
                config = self.files.load(ctx)
            except ConfigError:
                config = self.files.last_good(ctx)  # a half-saved edit changes no definition
            try:
                changed = config is None or resolve(config, session.profile, ctx).key() != session.key
            except ConfigError:
                changed = True  # the profile or its source is gone or broken now
            if changed:
                log.info("definition of %s changed; dropping its session", session.profile)
                self.store.drop(session.key)
                self.states.remove(session)
