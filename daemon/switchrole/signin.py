"""Sign in to IAM Identity Center from a terminal: the person's side of the device authorization.

The agent does the OAuth calls and holds the tokens; this asks it to start (or join) the sign-in
for a profile's sso-session, shows the verification URL and code on the terminal, opens the URL
with Python's ``webbrowser`` (so ``BROWSER`` picks the program; the URL holds only the code the
person is meant to see, never a token), and waits for the approval. Only the caller that
started the authorization opens a browser: any number of shells waiting at once share one tab.
Standard library only, imported only when a sign-in is needed.
"""

from __future__ import annotations

import os
import sys
import time

from . import client, wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

# Each wait request lasts at most this long; the client asks again until the code expires.
WAIT_STEP = 60.0


def at_terminal() -> bool:
    """Whether a person can be asked: a terminal to show the URL and code on."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _screen() -> TextIO:
    """Where the person reads: stderr, or the terminal when stderr is captured (an SDK running
    `credential-process` keeps its stderr)."""
    try:
        if sys.stderr.isatty():
            return sys.stderr
    except (AttributeError, ValueError):
        pass
    try:
        return open("/dev/tty", "w", encoding="utf-8")
    except OSError:
        return sys.stderr


def _say(line: str) -> None:
    screen = _screen()
    screen.write(f"switchrole: {line}\n")
    screen.flush()
    if screen is not sys.stderr:
        screen.close()


def open_browser(url: str) -> bool:
    """Open ``url`` in the person's browser; its program's output goes to stderr, never to
    stdout (which `eval "$(switchrole env ...)"` runs)."""
    import webbrowser

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        return bool(webbrowser.open(url))
    except webbrowser.Error:
        return False
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def sign_in(
    *, profile: str | None = None, sso_session: str | None = None, force: bool = False, browser: bool = True
) -> wire.LoginAnswer:
    """Sign in for ``profile``'s sso-session (or the one named): start or join the device
    authorization, show it, and wait until it is approved. Raises wire.Error when it is not."""
    ctx = client.context()
    answer = wire.check_login_answer(
        client.send(wire.login_request(ctx, profile=profile, sso_session=sso_session, force=force))
    )
    name = answer["sso_session"]
    authorization = answer["authorization"]
    if authorization is None:
        return answer  # a usable sign-in is held already
    url, code = authorization["verification_uri_complete"], authorization["user_code"]
    if answer["started"]:
        _say(f"sign in to IAM Identity Center for sso-session {name} at {answer['start_url']}")
        opened = browser and open_browser(url)
        if opened:
            _say(f"opened {url} in your browser; check that it shows the code {code}")
        else:
            _say(f"open this URL in a browser: {url}")
            _say(f"and check that it shows the code {code}")
    else:
        _say(f"waiting for the sign-in to sso-session {name} asked for already (code {code} at {url})")
    deadline = authorization["expires_at"] + 30
    while True:
        answer = wire.check_login_answer(
            client.send(
                wire.login_request(
                    ctx, profile=profile, sso_session=sso_session, wait=True, patience=WAIT_STEP
                )
            )
        )
        if answer["signed_in"]:
            _say(f"signed in to sso-session {name}; the agent renews the sign-in until it ends")
            return answer
        if answer["authorization"] is None or time.time() > deadline:
            raise wire.Error(
                wire.LOGIN_FAILED,
                f"the sign-in to sso-session {name} was not completed",
                "run `switchrole login` again and approve the code in the browser",
            )
