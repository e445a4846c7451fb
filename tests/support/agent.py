"""The agent as a process and its socket: where its files are, its pid, log and exit status, a
switch that must succeed, the sessions it holds, and raw requests on its socket."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.waiting import wait_for
from switchrole import wire

if TYPE_CHECKING:
    from support.world import World


def agent_dir(world: World) -> Path:
    """switchrole's private directory under the world's runtime dir."""
    return world.runtime / "switchrole"


def socket_file(world: World) -> Path:
    return agent_dir(world) / "agent.sock"


def agent_log(world: World) -> str:
    """The agent's log so far ("" before it first started)."""
    path = agent_dir(world) / "agent.log"
    return path.read_text(errors="replace") if path.exists() else ""


# -- any process, by pid ---------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields from the state on (index 0 is the state), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def exit_status(pid: int) -> int | None:
    """The wait status of an exited, unreaped process (our pid 1 does not reap), else None."""
    fields = proc_stat(pid)
    if fields is None or fields[0] != "Z" or len(fields) < 50:
        return None
    return int(fields[49])  # field 52 of /proc/PID/stat: exit_code


def released(pid: int) -> bool:
    """Whether ``pid`` has exited entirely: reaped, or a zombie none of whose threads is still
    exiting (a zombie leader's threads may hold its files, sockets and ports a moment longer)."""
    try:
        return proc_stat(pid) is None or (not alive(pid) and len(os.listdir(f"/proc/{pid}/task")) <= 1)
    except OSError:
        return True


def kill9(pid: int) -> None:
    """Kill the agent as a crash or the OOM killer would, and wait until it has exited entirely."""
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: released(pid), 10, interval=0.02, what=f"pid {pid} to die of SIGKILL")


def agents_of(home: str | Path) -> list[int]:
    """Live agent processes (any world's way of starting one) whose HOME is ``home``; we run as
    root, so every /proc entry is readable."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"switchrole.agent" in cmdline and f"HOME={home}".encode() in environ and alive(int(entry.name)):
            pids.append(int(entry.name))
    return sorted(pids)


# -- the agent of a world --------------------------------------------------------------------------


def agent_pid(world: World) -> int:
    """The pid of the world's running agent; fails the test (showing the log) when none runs."""
    pid = world.agent_pid()
    assert pid is not None, f"no agent is running; its log:\n{agent_log(world)}"
    return pid


def start_agent(world: World) -> int:
    """`switchrole daemon start`: an agent holding no session, so a broken config has nothing to
    fall back on (held sessions are served from the last version that parsed); its pid."""
    out = world.run("daemon", "start")
    assert out.returncode == 0, out.stderr
    return agent_pid(world)


def env_ok(world: World, profile: str = "test", shell: str | None = "bash", **env: str) -> str:
    """`switchrole env PROFILE --shell SHELL` (without --shell when ``shell`` is None: the client
    then writes for plain sh here), which must succeed; the code it printed."""
    out = world.run("env", profile, *(["--shell", shell] if shell else []), **env)
    assert out.returncode == 0, out.stderr
    assert "export AWS_ACCESS_KEY_ID=" in out.stdout
    return out.stdout


def warm_agent(world: World) -> int:
    """Start the agent with a good `switchrole env test` (it then holds that session), so later
    failures can be checked against its pid."""
    env_ok(world, shell=None)
    return agent_pid(world)


def sessions(world: World) -> list[dict[str, Any]]:
    """The sessions the running agent holds, as `status --json` describes them."""
    status = world.status()
    assert status.get("running") is True, status
    result: list[dict[str, Any]] = status["sessions"]
    return result


def session_for(world: World, **fields: object) -> dict[str, Any] | None:
    """The held session whose ``fields`` have these values (profile="mfa", role_arn=...), or None."""
    return next((s for s in sessions(world) if all(s[k] == v for k, v in fields.items())), None)


# -- raw requests on the socket --------------------------------------------------------------------


def env_request(world: World, **changes: Any) -> bytes:
    """A well-formed `env` request line for profile test from this world, with ``changes`` over
    its fields ("ctx": a mapping over its context's)."""
    request: dict[str, Any] = {**wire.env_request("test", world.context())}
    request["ctx"] = {**request["ctx"], **changes.pop("ctx", {})}
    request.update(changes)
    return json.dumps(request).encode() + b"\n"


def exchange(path: str, payload: bytes, timeout: float = 15) -> bytes:
    """Send one message on the Unix socket ``path`` the way the client does (then half-close);
    return everything the agent answered."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent stopped reading (size cap) and hung up
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            assert len(data) < 1024 * 1024
        return data
