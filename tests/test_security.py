"""Security properties: a private socket, a peer check, no secret on disk or in output, hardening."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

from support.agent import agent_dir, env_request, socket_file, warm_agent
from support.exports import environment
from support.world import AS_NOBODY, NOBODY, SOURCE_SECRET, SWITCHROLE, SYSTEM_PYTHON, World, files_containing

KEEP_DAC_OVERRIDE = ["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]
NO_PTRACE = ["setpriv", "--bounding-set=-sys_ptrace"]

# Connects to the socket given as argv[1], sends argv[2] (one line), prints what happened.
PROBE = r"""
import json, os, socket, sys
result = {"uid": os.getuid(), "caps": ""}
for line in open("/proc/self/status"):
    if line.startswith("CapEff:"):
        result["caps"] = line.split()[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    result["connect_errno"] = e.errno
    print(json.dumps(result))
    sys.exit(0)
result["connect_errno"] = 0
data = b""
try:
    s.sendall(sys.argv[2].encode())
    s.shutdown(socket.SHUT_WR)
except OSError as e:
    result["send_errno"] = e.errno
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError as e:
    result["recv_errno"] = e.errno
result["reply"] = data.decode("utf-8", "replace")
print(json.dumps(result))
"""


def probe(world: World, prefix: list[str]) -> dict[str, Any]:
    # A complete `env` request: answered with credentials to anyone the agent accepts.
    request = env_request(world, shell_pid=os.getpid()).decode()
    out = subprocess.run(
        [*prefix, SYSTEM_PYTHON, "-c", PROBE, str(socket_file(world)), request],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def session_env(world: World) -> dict[str, str]:
    """The scenario in bash: eval, use the AWS CLI, then dump the environment."""
    out = world.shell(
        "bash",
        'eval "$(switchrole env test)" && aws sts get-caller-identity --output json >/dev/null && env',
    )
    assert out.returncode == 0, out.stderr
    env = environment(out.stdout)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    return env


def secrets_of(env: dict[str, str]) -> dict[str, str]:
    return {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}


# -- (a) the runtime dir and the socket ------------------------------------------------------


def test_runtime_dir_is_0700_and_socket_0600_owned_by_us(world: World) -> None:
    warm_agent(world)
    directory = agent_dir(world)
    st = os.lstat(directory)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.getuid()
    sock = os.lstat(socket_file(world))
    assert stat.S_ISSOCK(sock.st_mode)
    assert stat.S_IMODE(sock.st_mode) == 0o600
    assert sock.st_uid == os.getuid()
    assert world.status()["socket"] == str(socket_file(world))
    # Nothing in there is open to group or others (lock, log, state files).
    for entry in directory.iterdir():
        mode = stat.S_IMODE(os.lstat(entry).st_mode)
        assert mode & 0o077 == 0, f"{entry} has mode {mode:o}"


# -- (b) other users ---------------------------------------------------------------------------


def test_probe_as_ourselves_gets_credentials(world: World) -> None:
    # The control for the probes below: the same request from our own uid is answered.
    warm_agent(world)
    result = probe(world, [])
    assert result["connect_errno"] == 0
    reply = json.loads(result["reply"])
    assert reply["ok"] is True, reply
    assert reply["result"]["credentials"]["access_key_id"].startswith("ASIA")


def test_another_uid_cannot_reach_the_socket(world: World) -> None:
    pid = warm_agent(world)
    # Let nobody walk down to XDG_RUNTIME_DIR: what stops it must be the private dirs.
    os.chmod(world.root, 0o711)  # noqa: S103 (deliberately loose)
    result = probe(world, AS_NOBODY)
    assert result["uid"] == NOBODY
    assert int(result["caps"], 16) == 0
    assert result["connect_errno"] == 13  # EACCES
    assert "reply" not in result
    # Each layer on its own: runtime dir open to traversal, then also the switchrole dir.
    directory = agent_dir(world)
    try:
        os.chmod(world.runtime, 0o711)  # noqa: S103 (deliberately loose)
        result = probe(world, AS_NOBODY)
        assert result["connect_errno"] == 13, "the 0700 switchrole dir must stop another uid"
        os.chmod(directory, 0o711)  # noqa: S103 (deliberately loose)
        result = probe(world, AS_NOBODY)
        assert result["connect_errno"] == 13, "the 0600 socket must stop another uid"
    finally:
        os.chmod(directory, 0o700)
        os.chmod(world.runtime, 0o700)
    assert world.status()["pid"] == pid


def test_another_uid_past_file_permissions_is_refused_by_the_peer_check(world: World) -> None:
    pid = warm_agent(world)
    result = probe(world, [*AS_NOBODY, *KEEP_DAC_OVERRIDE])
    # The capability trick works here: uid nobody, only CAP_DAC_OVERRIDE (bit 1), and the
    # socket behind two 0700 dirs and mode 0600 is reachable.
    assert result["uid"] == NOBODY
    assert int(result["caps"], 16) == 1 << 1
    assert result["connect_errno"] == 0
    reply_text = result["reply"]
    assert "secret_access_key" not in reply_text
    assert "ASIA" not in reply_text
    if reply_text:
        reply = json.loads(reply_text)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "forbidden"
    # And the agent keeps serving its own user.
    ok = world.run("env", "test")
    assert ok.returncode == 0, ok.stderr
    assert world.status()["pid"] == pid


# -- (c) and (d) no secret on disk or in output ----------------------------------------------


def test_no_secret_on_disk_in_the_log_argv_or_status(world: World) -> None:
    env = session_env(world)
    pid = int(world.status()["pid"])
    secrets = secrets_of(env)
    log = agent_dir(world) / "agent.log"
    assert log.exists()
    log_text = log.read_text(errors="replace")
    status_json = world.run("status", "--json")
    status_text = world.run("status")
    assert status_json.returncode == 0 and status_text.returncode == 0
    assert "test" in status_text.stdout
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read()
    with open(f"/proc/{pid}/environ", "rb") as f:
        agent_environ = f.read()
    for name, value in secrets.items():
        assert files_containing(world.root, value) == [], name
        assert value not in log_text, name
        assert value not in status_json.stdout + status_json.stderr, name
        assert value not in status_text.stdout + status_text.stderr, name
        assert value.encode() not in cmdline, name
        assert value.encode() not in agent_environ, name
    # The long-term secret stays where the user put it.
    assert files_containing(world.root, SOURCE_SECRET) == [world.aws / "credentials"]
    assert SOURCE_SECRET.encode() not in cmdline + agent_environ
    assert b"AWS_" not in agent_environ
    for out in (world.run("list"), world.run("list", "--json")):
        assert SOURCE_SECRET not in out.stdout + out.stderr


def test_status_json_holds_no_secret_fields(world: World) -> None:
    env = session_env(world)
    status = world.status()
    assert status["running"] is True
    text = json.dumps(status)
    for value in secrets_of(env).values():
        assert value not in text
    for word in ("secret", "session_token", "access_key"):
        assert word not in text.lower()
    assert [s["profile"] for s in status["sessions"]] == ["test"]


# -- (e) runtime dirs the client must refuse -------------------------------------------------


def assert_refused(world: World, *needles: str, **env: str) -> str:
    out = world.run("env", "test", **env)
    assert out.stdout == "false\n"
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    message = out.stderr.strip()
    assert message.startswith("switchrole: ")
    for needle in needles:
        assert needle in message, message
    return message


def test_refuses_a_runtime_dir_open_to_others(world: World) -> None:
    directory = agent_dir(world)
    directory.mkdir()
    os.chmod(directory, 0o755)  # noqa: S103 (deliberately loose)
    assert_refused(world, str(directory), "755")
    # It is not ours to fix: never chmod a directory switchrole did not create.
    assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o755
    assert list(directory.iterdir()) == []
    assert world.agent_pid() is None


def test_refuses_a_runtime_dir_that_is_a_symlink(world: World) -> None:
    target = world.root / "elsewhere"
    target.mkdir(mode=0o700)
    link = agent_dir(world)
    link.symlink_to(target)
    assert_refused(world, str(link), "symlink")
    assert list(target.iterdir()) == []
    assert world.agent_pid() is None


def test_refuses_a_runtime_dir_owned_by_someone_else(world: World) -> None:
    directory = agent_dir(world)
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY, NOBODY)
    assert_refused(world, str(directory), str(NOBODY))
    assert list(directory.iterdir()) == []
    assert os.lstat(directory).st_uid == NOBODY


def test_refuses_a_socket_path_over_the_unix_limit(world: World) -> None:
    long_dir = Path("/tmp") / ("sr-long-" + uuid.uuid4().hex).ljust(200, "x")
    sock = long_dir / "s.sock"
    try:
        message = assert_refused(world, SWITCHROLE_SOCKET=str(sock))
        assert "107" in message or "limit" in message
        assert str(len(os.fsencode(str(sock)))) in message or "long" in message
        assert not sock.exists()
    finally:
        shutil.rmtree(long_dir, ignore_errors=True)


# -- (f) hardening of the agent process ------------------------------------------------------


def test_agent_writes_no_core_dumps(world: World) -> None:
    pid = warm_agent(world)
    limits = Path(f"/proc/{pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    soft, hard = line.split()[4:6]
    assert soft == "0" and hard == "0", line


def _can_open_mem(pid: int) -> bool:
    out = subprocess.run(
        [*NO_PTRACE, SYSTEM_PYTHON, "-c", f"open('/proc/{pid}/mem', 'rb')"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if out.returncode == 0:
        return True
    assert "PermissionError" in out.stderr, out.stderr
    return False


def test_agent_is_not_dumpable(world: World) -> None:
    # We run as root, which may ptrace anything. Without CAP_SYS_PTRACE (on both sides, so the
    # probe's capabilities are a superset of the target's) a same-uid process may open another's
    # /proc/PID/mem only if that process is dumpable: that tells the two apart.
    control = subprocess.Popen([*NO_PTRACE, "sleep", "30"])
    try:
        assert _can_open_mem(control.pid), "the probe cannot tell a dumpable process apart"
    finally:
        control.kill()
        control.wait()
    out = subprocess.run(
        [*NO_PTRACE, SWITCHROLE, "env", "test"],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    pid = int(world.status()["pid"])
    with open(f"/proc/{pid}/status") as f:
        bounding = next(line for line in f if line.startswith("CapBnd:")).split()[1]
    assert int(bounding, 16) & (1 << 19) == 0  # the agent inherited the reduced bounding set
    assert not _can_open_mem(pid)


def test_agent_log_is_private(world: World) -> None:
    warm_agent(world)
    mode = stat.S_IMODE(os.lstat(agent_dir(world) / "agent.log").st_mode)
    assert mode == 0o600
