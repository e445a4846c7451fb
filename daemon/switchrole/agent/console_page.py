"""Hand a console sign-in URL to the browser without putting it on any command line.

``webbrowser.open(url)`` runs the browser with the URL in its argv, where ``ps`` shows it to
every local user, and the URL's sign-in token opens the console as the role for 15 minutes.
Instead the agent writes a tiny page that redirects to the URL, in a 0600 file inside the
private runtime dir, and the client opens that file; only its path, which grants nothing,
appears in argv. The page is removed after ``ttl`` seconds (long enough for a browser to start),
and any page left by an agent that died is removed when the next one starts.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
import threading

from .. import paths

log = logging.getLogger("switchrole.agent")

TTL = 60.0
PAGE = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={url}">
<title>switchrole: AWS console sign-in</title></head>
<body><p>Signing in to the AWS console&hellip; <a href="{url}" rel="noreferrer">continue</a></p></body></html>
"""


class ConsolePages:
    def __init__(self, runtime_dir: str, ttl: float = TTL) -> None:
        self.directory = os.path.join(runtime_dir, "console")
        self.ttl = ttl
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self.clear()

    def write(self, url: str) -> str:
        """A private page redirecting to ``url``; its path, to open in the browser."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = os.path.join(self.directory, f"signin-{secrets.token_hex(8)}.html")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(PAGE.format(url=html.escape(url, quote=True)))
        timer = threading.Timer(self.ttl, self._remove, args=(path,))
        timer.daemon = True
        with self._lock:
            self._timers[path] = timer
        timer.start()
        return path

    def _remove(self, path: str) -> None:
        with self._lock:
            self._timers.pop(path, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove a console sign-in page: %s", exc.strerror)

    def clear(self) -> None:
        """Remove every page now (at start, and when the agent stops)."""
        with self._lock:
            timers, self._timers = self._timers, {}
        for timer in timers.values():
            timer.cancel()
        paths.empty_directory(self.directory)
