"""Talk to the agent: connect, start it when nothing answers, exchange messages, and give the
agent what it asks for (the shell's credential variables, an MFA code read on /dev/tty).

Standard library only and imported on every shell call: keep module-level imports to what
the warm path needs (os, socket, json via protocol). Autostart pulls in subprocess/fcntl lazily.
"""

from __future__ import annotations

import os
import socket
import sys

from . import paths, protocol, wire

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from typing import Any

# Endpoint and TLS settings that change which STS the agent must talk to for this shell.
CONTEXT_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    "SWITCHROLE_FEDERATION_ENDPOINT",
)

# A profile with credential_source takes these from the asking shell; the client sends them
# only when the agent says the profile needs them, never otherwise.
SOURCE_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECURITY_TOKEN",  # botocore reads the legacy name first, when it is not empty
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
)

CONNECT_TIMEOUT = 2.0
MFA_ATTEMPTS = 3
# 200 shells starting at once (a tmux server restoring its panes) queue on the agent's
# connection cap: each must outwait the others' turns.
BUSY_PATIENCE = 60.0
REPLY_TIMEOUT = 120.0
START_TIMEOUT = 20.0


class AgentUnavailable(Exception):
    """No agent answers and none could be started."""


def context() -> wire.Context:
    """What this shell sees that changes the agent's answer (never credentials)."""
    env = os.environ
    user = env.get("USER") or env.get("LOGNAME")
    if not user:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    return wire.context(
        paths.aws_file("AWS_CONFIG_FILE", "~/.aws/config"),
        paths.aws_file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        {k: env[k] for k in CONTEXT_ENV if k in env},
        user,
    )


def source_env() -> dict[str, str]:
    return {k: os.environ[k] for k in SOURCE_ENV if k in os.environ}


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def _exchange(sock: socket.socket, message: wire.Request, timeout: float) -> dict[str, Any]:
    with sock:
        sock.settimeout(timeout)
        sent = True
        try:
            sock.sendall(protocol.encode(message))
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            sent = False  # an agent at its connection cap answers `busy` and closes unread
        try:
            return protocol.decode(protocol.read_line(sock, protocol.MAX_RESPONSE))
        except (protocol.ProtocolError, ConnectionResetError) as exc:
            if not sent:
                return wire.Error(wire.BUSY, "the agent is busy").to_wire()
            raise AgentUnavailable(f"the agent closed the connection or answered badly: {exc}") from None


def _agent_env() -> dict[str, str]:
    # The agent must never use credentials or settings from whoever happened to start it:
    # every request carries its own context.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def spawn_agent(directory: str, sock_path: str) -> None:
    """Start a detached agent and wait until it listens. Caller holds the start lock."""
    import select
    import subprocess

    if os.path.lexists(sock_path):
        # Only the lock holder gets here, after a failed connect: the socket is stale.
        os.unlink(sock_path)
    log = os.open(paths.log_path(directory), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "switchrole.agent", "--ready-fd", str(write_fd)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            pass_fds=(write_fd,),
            start_new_session=True,
            env=_agent_env(),
            cwd="/",
        )
    finally:
        os.close(write_fd)
        os.close(log)
    try:
        ready, _, _ = select.select([read_fd], [], [], START_TIMEOUT)
        signal = os.read(read_fd, 64) if ready else b""
    finally:
        os.close(read_fd)
    if not signal.startswith(b"ready"):
        reason = _last_log_line(directory) or f"it exited with status {proc.poll()}"
        raise AgentUnavailable(f"could not start the agent: {reason}")


def _last_log_line(directory: str) -> str:
    try:
        with open(paths.log_path(directory), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 2048))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _connect_or_start(directory: str, sock_path: str) -> socket.socket:
    import fcntl
    import time

    fd = os.open(paths.lock_path(sock_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + START_TIMEOUT + 5
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AgentUnavailable("timed out waiting for another shell starting the agent") from None
                time.sleep(0.005)
        # Another shell may have started the agent while we waited for the lock.
        try:
            return _connect(sock_path)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        spawn_agent(directory, sock_path)
        return _connect(sock_path)
    finally:
        os.close(fd)  # releases the lock


def call(op: str, autostart: bool = True, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
    """One of the agent's own operations (ping, status, stop): its result, or wire.Error."""
    return send(wire.request(op), autostart, timeout)


def send(message: wire.Request, autostart: bool = True, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
    """Send one request and return the agent's result, raising wire.Error on an error reply."""
    try:
        directory = paths.runtime_dir(create=autostart)
    except paths.RuntimeDirMissing:
        raise AgentUnavailable("no agent is running (it has not been started yet)") from None
    sock_path = paths.socket_path(directory)
    skews = 0
    busy_until = 0.0
    while True:
        try:
            sock = _connect(sock_path)
        except (FileNotFoundError, ConnectionRefusedError):
            if not autostart:
                raise AgentUnavailable(f"no agent is running (socket {sock_path})") from None
            sock = _connect_or_start(directory, sock_path)
        reply = _exchange(sock, message, timeout)
        if reply.get("ok") is True and isinstance(reply.get("result"), dict):
            result: dict[str, Any] = reply["result"]
            return result
        error = wire.error_from_reply(reply)
        # An agent from another version has shut itself down after saying so: start ours.
        if error.code == wire.VERSION_SKEW and autostart and skews < 2:
            skews += 1
            continue
        if error.code == wire.BUSY:
            # Many shells at once (a tmux session restoring 50 panes): wait our turn.
            import random
            import time

            now = time.monotonic()
            busy_until = busy_until or now + BUSY_PATIENCE
            if now < busy_until:
                time.sleep(random.uniform(0.02, 0.1))  # noqa: S311 - jitter, not secrets
                continue
        raise error


class NoTerminal(wire.Error):
    """An MFA code is needed and there is nobody to ask."""


def ask_mfa_code(serial: str, profile: str) -> str:
    """Read an MFA code from the terminal: the prompt on stderr, never stdout (eval reads it)."""
    try:
        tty = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError:
        raise NoTerminal(
            wire.MFA_REQUIRED,
            f"profile {profile} needs an MFA code for {serial}, but there is no terminal to ask on",
            "run `switchrole env "
            + profile
            + "` once in a terminal (the MFA session is then shared), or set mfa_process = "
            "<command printing the code> in the profile",
        ) from None
    with tty:
        sys.stderr.write(f"MFA code for {serial}: ")
        sys.stderr.flush()
        line = tty.readline()
    if not line:
        raise wire.Error(wire.MFA_REQUIRED, f"no MFA code entered for {serial}")
    return line.strip()


def _converse(message: wire.Request, profile: str, interactive: bool) -> dict[str, Any]:
    """Send ``message``; when the agent needs more, give it and ask again: the shell's credential
    variables for a credential_source profile, or an MFA code read from the terminal (a wrong
    code is asked again). A prompt hook passes interactive=False: it never prompts."""
    prompts = 0
    signed_in = False
    while True:
        try:
            result = send(message)
        except wire.Error as exc:
            if exc.code == wire.NEEDS_ENVIRONMENT and "source_env" not in message["ctx"]:
                message["ctx"]["source_env"] = source_env()
                continue
            if exc.code == wire.LOGIN_REQUIRED and interactive and not signed_in and _sign_in(profile):
                signed_in = True
                continue
            wants_code = exc.code == wire.MFA_REQUIRED or (
                exc.code == wire.MFA_INVALID and "mfa_code" in message
            )
            if not interactive or not wants_code or prompts == MFA_ATTEMPTS:
                raise
            if exc.code == wire.MFA_INVALID:
                sys.stderr.write(f"switchrole: {exc.message}\n")
                if exc.hint:
                    sys.stderr.write(f"switchrole: hint: {exc.hint}\n")
            prompts += 1
            serial = exc.detail.get("mfa_serial")
            if serial is None:
                raise  # not a code the agent asks for (mfa_process failed): its own words say why
            try:
                message["mfa_code"] = ask_mfa_code(serial, profile)
            except NoTerminal as nobody:
                # With nobody to type a code instead, a failing mfa_process is what to fix.
                raise (exc if "mfa_process" in exc.detail else nobody) from None
            continue
        if interactive and result.get("state") == wire.LOGIN_NEEDED and not signed_in and _sign_in(profile):
            # The role still works, but its sign-in could not be renewed: sign in while someone is here.
            signed_in = True
            continue
        if interactive and result.get("state") == wire.MFA_NEEDED and "mfa_code" not in message:
            serial = result.get("mfa_serial")
            if isinstance(serial, str):
                # The role still works, but its MFA session is gone: renew it while someone is here.
                try:
                    message["mfa_code"] = ask_mfa_code(serial, profile)
                except NoTerminal:
                    return result  # the still-valid credentials will do for now
                continue
        return result


def _sign_in(profile: str) -> bool:
    """Sign in to the profile's sso-session when a person is at a terminal; False when nobody
    is (the caller then fails closed with the agent's words, which name `switchrole login`)."""
    from . import signin

    if not signin.at_terminal():
        return False
    signin.sign_in(profile=profile)
    return True


def request_env(profile: str, pid: int, interactive: bool = True, endpoint: bool = False) -> wire.EnvAnswer:
    """The credentials (or endpoint token) for PROFILE. Not interactive means a prompt hook: it
    is answered within about a second from what the agent holds, and never waits on STS."""
    message = wire.env_request(
        profile, context(), pid, endpoint=endpoint, patience=None if interactive else wire.HOOK_PATIENCE
    )
    return wire.check_env_answer(_converse(message, profile, interactive))


def request_console(profile: str, pid: int, destination: str | None, page: bool) -> dict[str, Any]:
    """The console sign-in URL for PROFILE, or the path of a private page that opens it."""
    message = wire.console_request(profile, context(), pid, destination=destination, page=page)
    return _converse(message, profile, interactive=True)
