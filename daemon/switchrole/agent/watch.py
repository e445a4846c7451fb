"""Notice edits to the AWS config files the agent has served from, and to its own socket.

Editors save by writing a temp file and renaming it over the original, so we watch the
directories, not the files, and match paths on every event (source and destination). Bursts of
events (a save touches several files) are debounced into one reload. The same observer watches
the runtime directory so the agent exits when its socket is removed or taken over (its inode,
taken when watching starts, is gone or another), without polling.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("switchrole.agent")

DEBOUNCE = 0.3
MAX_DIRECTORIES = 64
# watchdog's dispatcher wakes every `timeout` seconds when idle; events still arrive at once.
IDLE_TIMEOUT = 3600.0


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = {os.fsdecode(event.src_path)}
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.add(os.fsdecode(dest))
        self.watcher.seen(paths)


class Watcher:
    def __init__(
        self, on_change: Callable[[set[str]], None], on_socket_lost: Callable[[], None], socket_path: str
    ) -> None:
        self.on_change = on_change
        self.on_socket_lost = on_socket_lost
        self.socket_path = socket_path
        self._lock = threading.Lock()
        self._files: set[str] = set()
        self._directories: set[str] = set()
        self._pending: set[str] = set()
        self._timer: threading.Timer | None = None
        self._socket_inode: int | None = None
        self._observer = Observer(timeout=IDLE_TIMEOUT)
        self._observer.daemon = True

    def start(self) -> None:
        """Watch from now on; the socket must be bound by now (its inode is the agent's)."""
        self._socket_inode = _inode(self.socket_path)
        self._observer.start()
        self._watch_directory(os.path.dirname(self.socket_path))

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._observer.stop()

    def watch(self, *files: str) -> None:
        """Start watching files the agent just read (cheap when already watched)."""
        for path in files:
            if path in self._files:
                continue
            with self._lock:
                self._files.add(path)
            self._watch_directory(os.path.dirname(path))

    def _watch_directory(self, directory: str) -> None:
        with self._lock:
            if directory in self._directories or len(self._directories) >= MAX_DIRECTORIES:
                return
            self._directories.add(directory)
        try:
            self._observer.schedule(_Handler(self), directory, recursive=False)
        except OSError as exc:
            # A config file in a directory that does not exist yet: the next request retries.
            log.info("cannot watch %s: %s", directory, exc.strerror)
            with self._lock:
                self._directories.discard(directory)

    def seen(self, paths: set[str]) -> None:
        if self.socket_path in paths:
            threading.Thread(target=self._check_socket, daemon=True).start()
        with self._lock:
            hits = paths & self._files
            if not hits:
                return
            self._pending |= hits
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(DEBOUNCE, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            changed, self._pending = self._pending, set()
            self._timer = None
        if changed:
            self.on_change(changed)

    def _check_socket(self) -> None:
        if _inode(self.socket_path) != self._socket_inode:
            log.info("socket %s was removed or replaced; exiting", self.socket_path)
            self.on_socket_lost()


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
