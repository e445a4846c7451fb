"""Where the agent's socket and state live, and the checks that keep that place private.

Shared by the client and the agent; standard library only. The runtime directory is
``$XDG_RUNTIME_DIR/switchrole`` when that directory is the user's own and private, else a
per-user directory under the temp dir. ``SWITCHROLE_SOCKET`` overrides the socket path.
A directory we did not create is never chmod-ed: if it is not private we refuse it.
"""

from __future__ import annotations

import os
import stat

# sun_path is 108 bytes on Linux including the terminating NUL (104 on macOS).
MAX_SOCKET_PATH = 107 if os.uname().sysname == "Linux" else 103


RECOVER = (
    "set XDG_RUNTIME_DIR to a private directory of yours (mode 0700), or SWITCHROLE_SOCKET to a "
    "socket path inside one, e.g. `export XDG_RUNTIME_DIR=$HOME/.cache/run` after "
    "`mkdir -m 700 -p $HOME/.cache/run`"
)


class RuntimeDirError(Exception):
    """The runtime directory or socket path cannot be used safely."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class RuntimeDirMissing(RuntimeDirError):
    """The runtime directory does not exist yet: no agent has run."""


def _check_private(path: str) -> None:
    """Refuse a directory that is a symlink, not ours, or open to group/others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise RuntimeDirMissing(f"runtime directory {path} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise RuntimeDirError(f"runtime directory {path} is a symlink; refusing to use it", RECOVER)
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"runtime directory {path} is not a directory", RECOVER)
    if st.st_uid != os.getuid():
        # Someone else created it first (a shared /tmp): it is not ours to use or to remove.
        raise RuntimeDirError(
            f"runtime directory {path} is owned by uid {st.st_uid}, not by you ({os.getuid()})", RECOVER
        )
    if st.st_mode & 0o077:
        raise RuntimeDirError(
            f"runtime directory {path} is accessible to others (mode {st.st_mode & 0o777:o}); "
            "it must be 0700",
            "if you created it, `chmod 700` it; otherwise " + RECOVER,
        )


def _ensure_private_dir(path: str) -> str:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    _check_private(path)
    return path


def _xdg_base() -> str | None:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if not xdg or not os.path.isabs(xdg):
        return None
    try:
        st = os.stat(xdg)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return xdg


def runtime_dir(create: bool = True) -> str:
    """The private directory for the socket, lock and state files."""
    override = os.environ.get("SWITCHROLE_SOCKET")
    if override:
        _check_length(os.path.abspath(override))  # before creating anything for it
        path = os.path.dirname(os.path.abspath(override))
    else:
        base = _xdg_base()
        if base is not None:
            path = os.path.join(base, "switchrole")
        else:
            # Not tempfile.gettempdir(): importing tempfile costs milliseconds per shell call.
            path = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"switchrole-{os.getuid()}")
    if create:
        return _ensure_private_dir(path)
    _check_private(path)
    return path


def socket_path(directory: str) -> str:
    override = os.environ.get("SWITCHROLE_SOCKET")
    path = os.path.abspath(override) if override else os.path.join(directory, "agent.sock")
    return _check_length(path)


def _check_length(path: str) -> str:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise RuntimeDirError(
            f"socket path {path} is {len(os.fsencode(path))} bytes, over the {MAX_SOCKET_PATH}-byte "
            "limit of Unix sockets",
            "set SWITCHROLE_SOCKET or XDG_RUNTIME_DIR to a shorter path",
        )
    return path


def lock_path(sock_path: str) -> str:
    """The lock that makes concurrent autostarts produce exactly one agent."""
    return sock_path + ".lock"


def log_path(directory: str) -> str:
    return os.path.join(directory, "agent.log")


def endpoint_port_path(directory: str) -> str:
    """The loopback endpoint's port, kept so a restarted agent serves on the same one."""
    return os.path.join(directory, "endpoint.port")


def endpoint_grants_path(directory: str) -> str:
    """Who holds an endpoint token (a hash of it, the shell, the profile): a restarted agent
    goes on serving their running processes. No token and no credential is in it."""
    return os.path.join(directory, "endpoint.grants")


def write_private(path: str, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file holding ``text``, whatever the umask.

    Readers never see half a file (a rename), concurrent writers never share a temp file (pid
    and thread in its name), and a failed write leaves no temp file behind. OSError is raised."""
    import threading

    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # open's mode is filtered by the umask
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def empty_directory(directory: str) -> None:
    """Remove the files in one of the runtime dir's own subdirectories (state, console pages)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def aws_file(var: str, default: str) -> str:
    """The AWS config or credentials file this shell means, as botocore finds it."""
    # Endpoint mode points these at /dev/null for SDKs and keeps the user's value aside.
    saved = os.environ.get("SWITCHROLE_ORIG_" + var)
    raw = (saved if saved is not None else os.environ.get(var)) or default
    # botocore expands both ~ and $VARS in these paths.
    return os.path.abspath(os.path.expanduser(os.path.expandvars(raw)))
