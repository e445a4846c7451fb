"""The agent's life: autostart (exactly one), held sessions, stale sockets, `daemon`, upgrades."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import switchrole
from support.agent import agent_log, agents_of, alive, env_ok, socket_file
from support.exports import exported
from support.sts_fake import Role, StsFake
from support.waiting import wait_for
from support.world import ROLE_ARN, SCENARIO_CONFIG, SOURCE_KEY, World

ROLE2_ARN = "arn:aws:iam::333333333333:role/SecondRole"
TWO_ROLES = SCENARIO_CONFIG + f"\n[profile test2]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n"


# -- (a) and (b) autostart and held sessions --------------------------------------------------


def test_first_env_starts_exactly_one_agent(fake_world: World, sts_fake: StsFake) -> None:
    assert agents_of(fake_world.home) == []
    assert not socket_file(fake_world).exists()
    env_ok(fake_world, shell=None)
    pids = agents_of(fake_world.home)
    assert len(pids) == 1
    assert fake_world.status()["pid"] == pids[0]
    assert socket_file(fake_world).is_socket()
    assert sts_fake.count("AssumeRole") == 1


def test_twenty_concurrent_shells_start_one_agent_and_make_one_sts_call(
    fake_world: World, sts_fake: StsFake
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "switchrole", "env", "test", "--shell", "bash"],
            env=fake_world.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
    for rc, stdout, stderr in results:
        assert rc == 0, stderr
        assert "export AWS_ACCESS_KEY_ID=" in stdout
    # Everyone got the same session.
    assert len({exported(stdout, "AWS_ACCESS_KEY_ID") for _, stdout, _ in results}) == 1
    pids = agents_of(fake_world.home)
    assert len(pids) == 1, pids
    assert fake_world.status()["pid"] == pids[0]
    assert [p.name for p in socket_file(fake_world).parent.glob("*.sock")] == ["agent.sock"]
    assert sts_fake.count("AssumeRole") == 1
    assert agent_log(fake_world).count("listening on") == 1


def test_held_session_is_served_without_calling_sts(fake_world: World, sts_fake: StsFake) -> None:
    first = env_ok(fake_world, shell=None)
    assert sts_fake.count("AssumeRole") == 1
    for _ in range(3):
        again = env_ok(fake_world, shell=None)
        assert exported(again, "AWS_ACCESS_KEY_ID") == exported(first, "AWS_ACCESS_KEY_ID")
    assert sts_fake.count("AssumeRole") == 1
    assert sts_fake.count() == 1


# -- (c) a stale socket ------------------------------------------------------------------------


def test_stale_socket_after_kill_9_is_replaced(fake_world: World, sts_fake: StsFake) -> None:
    env_ok(fake_world, shell=None)
    old = int(fake_world.status()["pid"])
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), 15, what="the killed agent to exit")
    assert socket_file(fake_world).is_socket(), "a killed agent leaves its socket behind"
    assert fake_world.run("status").returncode == 3
    env_ok(fake_world, shell=None)
    new = int(fake_world.status()["pid"])
    assert new != old
    assert agents_of(fake_world.home) == [new]
    # The new agent holds nothing from the old one: one more AssumeRole.
    assert sts_fake.count("AssumeRole") == 2


# -- (d) switchrole daemon start|status|stop|run ----------------------------------------------


def test_daemon_start_status_stop(world: World) -> None:
    world.run("daemon", "start")  # creates the runtime dir
    stopped = world.run("daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert world.run("daemon", "status").returncode == 3

    start = world.run("daemon", "start")
    assert start.returncode == 0, start.stderr
    pid = int(world.status()["pid"])
    assert str(pid) in start.stdout
    assert agents_of(world.home) == [pid]
    again = world.run("daemon", "start")
    assert again.returncode == 0 and str(pid) in again.stdout
    assert agents_of(world.home) == [pid]

    status = world.run("daemon", "status")
    assert status.returncode == 0
    assert str(pid) in status.stdout and "running" in status.stdout

    stop = world.run("daemon", "stop")
    assert stop.returncode == 0, stop.stderr
    assert str(pid) in stop.stdout
    assert not alive(pid)
    assert not socket_file(world).exists()
    down = world.run("daemon", "status")
    assert down.returncode == 3
    assert "not running" in down.stdout
    assert world.run("status", "--json").returncode == 3
    assert json.loads(world.run("status", "--json").stdout)["running"] is False


def test_daemon_status_and_stop_before_any_agent_ever_ran(world: World) -> None:
    # A fresh login: XDG_RUNTIME_DIR exists, switchrole's dir under it does not yet.
    assert not (world.runtime / "switchrole").exists()
    status = world.run("daemon", "status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert "not running" in status.stdout
    as_json = world.run("status", "--json")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["running"] is False
    stop = world.run("daemon", "stop")
    assert stop.returncode == 0, stop.stderr
    assert "not running" in stop.stdout


def test_daemon_run_in_the_foreground(world: World) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchrole", "daemon", "run"],
        env=world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: socket_file(world).is_socket() or proc.poll() is not None, 15, what="the socket")
        assert proc.poll() is None
        env_ok(world, shell=None)
        assert world.status()["pid"] == proc.pid
        out = world.shell("bash", 'eval "$(switchrole env test)" && aws sts get-caller-identity')
        assert out.returncode == 0, out.stderr
        assert "assumed-role/TestSwitchRole/" in out.stdout

        second = world.run("daemon", "run", timeout=30)
        assert second.returncode != 0
        assert "already running" in second.stderr
        assert world.status()["pid"] == proc.pid
        assert socket_file(world).is_socket()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr
    assert not socket_file(world).exists()
    assert world.run("daemon", "status").returncode == 3


def test_daemon_run_sigint_also_cleans_up(world: World) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchrole", "daemon", "run"],
        env=world.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: socket_file(world).is_socket() or proc.poll() is not None, 15, what="the socket")
        assert world.status()["pid"] == proc.pid
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr
    assert not socket_file(world).exists()


# -- (e) switching roles in one shell ---------------------------------------------------------


def test_switching_roles_in_one_shell_always_uses_the_source_profile(
    fake_world: World, sts_fake: StsFake
) -> None:
    sts_fake.add_role(Role(ROLE2_ARN))
    fake_world.write(TWO_ROLES)
    script = (
        "export AWS_ACCESS_KEY_ID=AKIAGARBAGEGARBAGE00 AWS_SECRET_ACCESS_KEY=garbage "
        "AWS_SESSION_TOKEN=garbage\n"
        'eval "$(switchrole env test)" || exit 10\n'
        "aws sts get-caller-identity --query Arn --output text || exit 11\n"
        'eval "$(switchrole env test2)" || exit 12\n'
        "aws sts get-caller-identity --query Arn --output text || exit 13\n"
        'printf "%s\\n" "$SWITCHROLE_PROFILE"\n'
    )
    out = fake_world.shell("bash", script)
    assert out.returncode == 0, out.stderr
    first, second, profile = out.stdout.split()
    assert first.startswith("arn:aws:sts::222222222222:assumed-role/TestSwitchRole/")
    assert second.startswith("arn:aws:sts::333333333333:assumed-role/SecondRole/")
    assert profile == "test2"
    calls = sts_fake.calls_for("AssumeRole")
    assert [c.params["RoleArn"] for c in calls] == [ROLE_ARN, ROLE2_ARN]
    # Both made with the source profile's long-term key: not the garbage, not test's session.
    assert [c.access_key_id for c in calls] == [SOURCE_KEY, SOURCE_KEY]
    assert all(c.status == 200 for c in calls)


# -- (f) version skew -------------------------------------------------------------------------

SET_VERSION = "import switchrole; switchrole.__version__ = {version!r}\n"


def upgraded_env(world: World, tmp_path: Path, version: str) -> dict[str, str]:
    """An environment in which this installation reports ``version``, client and agent alike."""
    site = tmp_path / f"site-{version}"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SET_VERSION.format(version=version))
    return {**world.env, "PYTHONPATH": str(site)}


def test_upgraded_client_replaces_the_old_agent(world: World, tmp_path: Path) -> None:
    env_ok(world, shell=None)
    old = int(world.status()["pid"])
    assert world.status()["version"] == switchrole.__version__
    # The new client runs with the new version and so does the agent it starts.
    env = upgraded_env(world, tmp_path, "9.9.9")
    code = (
        "import switchrole; switchrole.__version__ = '9.9.9'\n"
        "from switchrole.cli import main\n"
        "raise SystemExit(main(['env', 'test', '--shell', 'bash']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "export AWS_ACCESS_KEY_ID=" in out.stdout
    wait_for(lambda: not alive(old), 15, what="the old agent to go away")
    status = subprocess.run(
        [sys.executable, "-m", "switchrole", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 0, status.stderr
    new = json.loads(status.stdout)
    assert new["version"] == "9.9.9"
    assert new["pid"] != old
    assert agents_of(world.home) == [new["pid"]]
    stop = subprocess.run(
        [sys.executable, "-m", "switchrole", "daemon", "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stop.returncode == 0, stop.stderr


def test_new_client_replaces_an_agent_from_an_older_version(world: World) -> None:
    old_agent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import switchrole; switchrole.__version__ = '0.0.1'\n"
            "from switchrole.cli import main\n"
            "raise SystemExit(main(['daemon', 'run']))\n",
        ],
        env=world.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: socket_file(world).is_socket() or old_agent.poll() is not None, 15, what="the socket"
        )
        assert old_agent.poll() is None
        env_ok(world, shell=None)
        assert old_agent.wait(timeout=15) == 0
    finally:
        if old_agent.poll() is None:
            old_agent.kill()
        old_agent.communicate(timeout=10)
    status = world.status()
    assert status["version"] == switchrole.__version__
    assert status["pid"] != old_agent.pid
    assert agents_of(world.home) == [status["pid"]]


def test_client_that_keeps_meeting_another_version_fails_closed(world: World) -> None:
    # A client that keeps meeting agents of another version gives up cleanly, eval-safe.
    env_ok(world, shell=None)
    code = (
        "import switchrole; switchrole.__version__ = '0.0.1'\n"
        "from switchrole.cli import main\n"
        "raise SystemExit(main(['env', 'test', '--shell', 'bash']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=world.env, capture_output=True, text=True, timeout=60
    )
    # The agents it can start are all of the installed version, so it cannot succeed.
    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "Traceback" not in out.stderr
    assert "0.0.1" in out.stderr
    # Afterwards the installed client works again.
    env_ok(world, shell=None)
    assert world.status()["version"] == switchrole.__version__


# -- (g) list ---------------------------------------------------------------------------------


def test_list_shows_profiles_and_kinds(world: World) -> None:
    world.write(TWO_ROLES)
    out = world.run("list")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert rows["default"] == ["static-keys"]
    assert rows["test"] == ["role", ROLE_ARN]
    assert rows["test2"] == ["role", ROLE2_ARN]

    as_json = world.run("list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    by_name = {row["profile"]: row for row in json.loads(as_json.stdout)}
    assert set(by_name) == {"default", "test", "test2"}
    assert by_name["default"]["kind"] == "static-keys"
    assert by_name["default"]["role_arn"] is None
    assert by_name["test"]["kind"] == "role"
    assert by_name["test"]["role_arn"] == ROLE_ARN
    assert by_name["test"]["source_profile"] == "default"
    # list reads the config itself: no agent needed, none started.
    assert agents_of(world.home) == []
