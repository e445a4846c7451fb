"""Hardening: the loopback endpoint under attack by another local user, and every way a switch
could fail open or leak a secret. One section per finding of the red-team review.

Real agent processes on real sockets, real bash/zsh/fish, STS on 127.0.0.1, and a second uid
(``setpriv`` to nobody) where another user is the point.
"""

from __future__ import annotations

import html
import json
import os
import re
import resource
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import switchrole
from support.agent import agent_dir, agent_log, agent_pid, kill9, socket_file
from support.exports import environment
from support.federation_fake import FederationFake
from support.flood import Flood
from support.net import http_get, port_of, raw_request, status_of
from support.pipe_shell import LiveBash, LiveShells, switch_endpoint
from support.sts_fake import StsFake
from support.waiting import wait_for
from support.world import (
    AS_NOBODY,
    NOBODY,
    ROLE_ARN,
    SCENARIO_CONFIG,
    SOURCE_KEY,
    SWITCHROLE,
    World,
    scenario_credentials,
    shell_argv,
)

KEY_NOW = "import boto3; print(boto3.Session().get_credentials().get_frozen_credentials().access_key)"


def _start_agent_with_fd_limit(world: World, limit: int) -> int:
    """Start the agent as `daemon start` does, with soft = hard open-file limit ``limit``."""

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    out = subprocess.run(
        [SWITCHROLE, "daemon", "start"],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lower,
    )
    assert out.returncode == 0, out.stderr
    pid = agent_pid(world)
    limits = Path(f"/proc/{pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(limit), str(limit)], line
    return pid


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- 1. the endpoint under a connection flood ------------------------------------------------


def _endpoint_shell(world: World, live_bash: LiveShells, fd_limit: int) -> tuple[int, LiveBash, str, str]:
    """An agent at soft = hard fd limit ``fd_limit`` and a live bash in endpoint mode:
    (agent pid, shell, URL, token)."""
    pid = _start_agent_with_fd_limit(world, fd_limit)
    shell = live_bash.start(world)
    url, token = switch_endpoint(shell)
    return pid, shell, url, token


def _assert_served(world: World, shell: LiveBash, url: str, token: str) -> None:
    """The rightful user is served: a plain GET, a boto3 process of the shell, `switchrole env`."""
    status, body = http_get(url, token)
    assert status == 200, body
    out = shell.run(f'"{sys.executable}" -c "{KEY_NOW}" 2>&1')
    assert out.strip().startswith("ASIA"), out
    assert world.run("env", "test").returncode == 0


def test_endpoint_flood_from_another_uid_is_dropped_and_the_owner_keeps_being_served(
    world: World, live_bash: LiveShells
) -> None:
    pid, shell, url, token = _endpoint_shell(world, live_bash, 1024)
    flood = Flood(port_of(url), 1100, hold=5.0, prefix=AS_NOBODY)
    # While another user holds 1,100 connections open, the rightful SDK and shells are served.
    # The agent closes them as it accepts them; on a loaded machine it may still be catching up
    # with the backlog when the flood reports, so it gets a moment (well inside the hold).
    wait_for(lambda: _fd_count(pid) < 200, 3, what="another user's connections to be dropped")
    _assert_served(world, shell, url, token)
    result = flood.result()
    assert result["uid"] == NOBODY
    assert result["connected"] >= 1000, result
    assert result["closed"] == result["connected"], "a foreign uid's connection was kept open"

    assert agent_pid(world) == pid
    assert f"refused connections from uid {NOBODY}" in agent_log(world)
    assert agent_log(world).count(f"uid {NOBODY}") == 1, "the flood flooded the log too"


def test_endpoint_flood_from_our_own_uid_cannot_lock_out_the_sdk(world: World, live_bash: LiveShells) -> None:
    pid, shell, url, token = _endpoint_shell(world, live_bash, 1024)
    flood = Flood(port_of(url), 1100, hold=5.0)
    # Idle connections are capped, the oldest dropped for newcomers: never near the fd limit
    # (given a moment to catch up with the backlog, as above).
    wait_for(lambda: _fd_count(pid) < 400, 3, what="fewer than 400 fds", show=lambda: _fd_count(pid))
    _assert_served(world, shell, url, token)
    result = flood.result()
    assert result["connected"] >= 1000, result
    assert result["closed"] >= result["connected"] - 128, result

    assert agent_pid(world) == pid
    status, _ = http_get(url, token)
    assert status == 200
    assert "Traceback" not in agent_log(world)


def test_agent_at_its_real_fd_limit_pauses_accepting_and_recovers(
    world: World, live_bash: LiveShells
) -> None:
    """Out of descriptors on both sockets at once: the agent waits, serves again, keeps its
    sessions, and its refresher lives on."""
    pid, _shell, url, token = _endpoint_shell(world, live_bash, 96)
    held = world.status()["sessions"][0]["expiration"]

    sock_path = str(socket_file(world))
    unix_flood = []
    for _ in range(150):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(sock_path)
        except OSError:
            s.close()
            break
        unix_flood.append(s)
    tcp = Flood(port_of(url), 150, hold=2.0)
    assert tcp.result()["connected"] > 0
    for s in unix_flood:
        s.close()

    wait_for(
        lambda: world.run("env", "test").returncode == 0, 20, interval=0.5, what="`env test` to work again"
    )
    assert http_get(url, token)[0] == 200
    assert agent_pid(world) == pid
    status = world.status()
    assert status["sessions"][0]["expiration"] == held
    log = agent_log(world)
    assert "pausing" in log, log[-2000:]
    assert "Traceback" not in log and "refresh pass failed" not in log


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("[::1]:{port}", True),
        ("LOCALHOST", True),
        ("evil.example:{port}", False),
        ("127.0.0.1.evil.example:{port}", False),
        ("127.0.0.1:1", False),
    ],
)
def test_endpoint_answers_only_loopback_host_names(
    world: World, live_bash: LiveShells, host: str, served: bool
) -> None:
    shell = live_bash.start(world)
    url, token = switch_endpoint(shell)
    port = port_of(url)
    request = (
        f"GET /credentials HTTP/1.1\r\nHost: {host.format(port=port)}\r\nAuthorization: {token}\r\n\r\n"
    ).encode()
    reply = raw_request(port, request)
    if served:
        assert status_of(reply) == 200, reply[:200]
        assert b'"AccessKeyId"' in reply
    else:
        assert status_of(reply) == 421, reply[:200]
        assert b"ASIA" not in reply


def test_endpoint_refuses_malformed_and_smuggled_requests(world: World, live_bash: LiveShells) -> None:
    shell = live_bash.start(world)
    url, token = switch_endpoint(shell)
    port = port_of(url)
    host = f"Host: 127.0.0.1:{port}\r\n"
    auth = f"Authorization: {token}\r\n"
    cases = {
        f"POST /credentials HTTP/1.1\r\n{host}{auth}\r\n": 405,
        f"GET /other HTTP/1.1\r\n{host}{auth}\r\n": 404,
        f"GET /credentials HTTP/1.1\r\n{host}{host}{auth}\r\n": 400,
        f"GET /credentials HTTP/1.1\r\n{host}{auth}{auth}\r\n": 400,
        "NONSENSE\r\n\r\n": 400,
    }
    for request, expected in cases.items():
        reply = raw_request(port, request.encode())
        assert status_of(reply) == expected, (request, reply[:200])
        assert b"ASIA" not in reply
    # A request head over the size cap is dropped unanswered.
    assert raw_request(port, b"GET /credentials HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n") == b""


def _trickle(connect: Any, payload: bytes) -> float:
    """Send payload a byte every 0.4 s; seconds until the server hung up."""
    started = time.monotonic()
    with connect() as s:
        s.settimeout(1)
        for byte in payload:
            try:
                s.sendall(bytes([byte]))
                if s.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
            if time.monotonic() - started > 30:
                break
    return time.monotonic() - started


def test_a_trickling_client_is_cut_off_by_a_per_request_deadline(world: World, live_bash: LiveShells) -> None:
    shell = live_bash.start(world)
    url, _token = switch_endpoint(shell)
    sock_path = str(socket_file(world))

    def unix() -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock_path)
        return s

    results: dict[str, float] = {}
    slow = b'{"v": 1, "op": "ping"' + b" " * 200
    threads = [
        threading.Thread(target=lambda: results.__setitem__("unix", _trickle(unix, slow))),
        threading.Thread(
            target=lambda: results.__setitem__(
                "tcp",
                _trickle(
                    lambda: socket.create_connection(("127.0.0.1", port_of(url))), b"GET /" + b"a" * 200
                ),
            )
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Each read got a fresh timeout before: a byte every 0.4 s held the connection for ever.
    assert 4 <= results["unix"] <= 9, results
    assert 4 <= results["tcp"] <= 9, results


# -- 1b. the endpoint's port outlives the agent ----------------------------------------------


def test_a_restarted_agent_serves_on_the_recorded_port(world: World, live_bash: LiveShells) -> None:
    shell = live_bash.start(world)
    url, _token = switch_endpoint(shell)
    port_file = agent_dir(world) / "endpoint.port"
    assert port_file.read_text().strip() == str(port_of(url))
    assert stat.S_IMODE(port_file.stat().st_mode) == 0o600

    old = agent_pid(world)
    kill9(old)
    assert world.run("daemon", "start").returncode == 0
    new = agent_pid(world)
    assert new != old
    # The new agent claimed the port at start, before any endpoint request: nobody else can.
    with pytest.raises(OSError):
        squatter = socket.socket()
        try:
            squatter.bind(("127.0.0.1", port_of(url)))
        finally:
            squatter.close()
    status, _ = http_get(url, None)
    assert status == 401  # answered by switchrole's endpoint, not by a squatter


def test_a_taken_port_is_reported_and_replaced(world: World, live_bash: LiveShells) -> None:
    shell = live_bash.start(world)
    url, _ = switch_endpoint(shell)
    kill9(agent_pid(world))
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port_of(url)))
    squatter.listen(1)
    try:
        assert world.run("daemon", "start").returncode == 0
        new_url, _ = switch_endpoint(shell)
        assert port_of(new_url) != port_of(url)
        assert f"endpoint port {port_of(url)} is taken" in agent_log(world)
        port_file = agent_dir(world) / "endpoint.port"
        assert port_file.read_text().strip() == str(port_of(new_url))
    finally:
        squatter.close()


def test_daemon_stop_warns_endpoint_users_and_an_idle_exit_forgets_the_port(
    world: World, live_bash: LiveShells
) -> None:
    shell = live_bash.start(world)
    switch_endpoint(shell)
    out = world.run("daemon", "stop")
    assert out.returncode == 0
    assert "1 shell(s) use the loopback endpoint" in out.stderr
    assert (agent_dir(world) / "endpoint.port").exists()
    # With no endpoint shell left, an agent that stops gives the port up.
    shell.exit()
    assert world.run("daemon", "start").returncode == 0
    assert world.run("daemon", "stop").returncode == 0
    assert not (agent_dir(world) / "endpoint.port").exists()


# -- 2. console: the sign-in token never on a command line -----------------------------------

BROWSER = """#!/bin/sh
printf '%s\\n' "$@" > "{record}.argv"
page=${{1#file://}}
cat "$page" > "{record}.page"
stat -c %a "$page" > "{record}.mode"
"""


def test_console_hands_the_browser_a_private_page_not_the_token(
    world: World, federation: FederationFake, tmp_path: Path
) -> None:
    record = tmp_path / "browser"
    browser = tmp_path / "browser.sh"
    browser.write_text(BROWSER.format(record=record))
    browser.chmod(0o700)
    out = world.run("console", "test", BROWSER=str(browser), SWITCHROLE_FEDERATION_ENDPOINT=federation.url)
    assert out.returncode == 0, out.stderr
    assert "opened the console for test" in out.stdout
    token = federation.issued[-1]

    argv = Path(f"{record}.argv").read_text()
    assert token not in argv and "SigninToken" not in argv and "federation" not in argv
    (page_url,) = argv.split()
    page = Path(page_url.removeprefix("file://"))
    assert page.parent == agent_dir(world) / "console"
    assert Path(f"{record}.mode").read_text().strip() == "600"
    assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    target = re.search(r'content="0;url=([^"]+)"', Path(f"{record}.page").read_text())
    assert target is not None
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(html.unescape(target[1])).query))
    assert query["SigninToken"] == token and query["Action"] == "login"
    # Nothing else of the token is left around the browser's start, and the page goes when the
    # agent does (else after a minute).
    assert world.run("daemon", "stop").returncode == 0
    assert not page.exists()


def test_console_pages_are_removed_after_their_time(tmp_path: Path) -> None:
    from switchrole.agent.console_page import ConsolePages

    leftover = tmp_path / "console" / "signin-old.html"
    leftover.parent.mkdir(mode=0o700)
    leftover.write_text("from an agent that died")
    pages = ConsolePages(str(tmp_path), ttl=0.3)
    assert not leftover.exists(), "a page left by a dead agent survived the next start"
    path = Path(pages.write('https://signin.aws.amazon.com/federation?Action=login&SigninToken=abc<>"'))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert (
        "SigninToken=abc&lt;&gt;&quot;" in text and "<>" not in text.split("<body>")[1].split("continue")[0]
    )
    wait_for(lambda: not path.exists(), 5, what="the page to be removed")


# -- 3. a switch never fails open -------------------------------------------------------------

CAFE_CONFIG = SCENARIO_CONFIG + f"\n[profile prod-café]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n"


def test_non_ascii_profile_under_an_ascii_stdout_switches(world: World) -> None:
    world.write(CAFE_CONFIG)
    out = world.shell(
        "bash",
        'eval "$(switchrole env prod-café)" && printf "RAN %s\\n" "$SWITCHROLE_PROFILE" '
        "&& aws sts get-caller-identity --query Arn --output text",
        PYTHONIOENCODING="ascii",
        LANG="C",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "RAN prod-café"
    assert lines[1].startswith("arn:aws:sts::222222222222:assumed-role/TestSwitchRole/")


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_failed_non_ascii_switch_never_runs_the_next_command(world: World, encoding: str) -> None:
    world.write(CAFE_CONFIG)
    out = subprocess.run(
        shell_argv("bash", 'eval "$(switchrole env nope-café)" && echo RAN'),
        env={**world.env, "PYTHONIOENCODING": encoding, "LANG": "C"},
        capture_output=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert b"RAN" not in out.stdout
    assert b"Traceback" not in out.stderr
    assert b"no profile named 'nope-caf" in out.stderr


def test_a_stdout_that_cannot_be_written_fails_without_a_traceback(world: World) -> None:
    out = world.shell("bash", "switchrole env test >&-; echo rc=$?")
    assert "Traceback" not in out.stderr
    assert out.stdout.strip() != "rc=0"


# -- 4. traces never show a secret ----------------------------------------------------------

TRACE_SCRIPTS = {
    "bash": """
eval "$(switchrole init bash)"
set -xv
switchrole use test
[[ $- == *x* && $- == *v* ]] && echo OPTIONS-KEPT
SWITCHROLE_GENERATION=0 __switchrole_quiet_until=0
__switchrole_hook
{ set +xv; } 2>/dev/null
echo "REFRESHED $SWITCHROLE_GENERATION"
env | grep '^AWS_'
""",
    "zsh": """
eval "$(switchrole init zsh)"
setopt xtrace verbose
switchrole use test
[[ -o xtrace && -o verbose ]] && echo OPTIONS-KEPT
SWITCHROLE_GENERATION=0
__switchrole_quiet_until=0
__switchrole_precmd
{ unsetopt xtrace verbose; } 2>/dev/null
echo "REFRESHED $SWITCHROLE_GENERATION"
env | grep '^AWS_'
""",
    "fish": """
switchrole init fish | source
set -g fish_trace 1
switchrole use test
echo OPTIONS-KEPT
set -gx SWITCHROLE_GENERATION 0
__switchrole_check
set -e fish_trace
echo "REFRESHED $SWITCHROLE_GENERATION"
env | grep '^AWS_'
""",
}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_use_and_the_hook_refresh_show_no_secret_under_tracing(world: World, shell: str) -> None:
    out = world.shell(shell, TRACE_SCRIPTS[shell])
    assert out.returncode == 0, out.stderr
    assert "OPTIONS-KEPT" in out.stdout
    refreshed = re.search(r"REFRESHED (\d+)", out.stdout)
    assert refreshed and refreshed[1] != "0", out.stdout  # the hook ran the client and evaluated
    env = environment(out.stdout)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert out.stderr.strip(), "nothing was traced at all: the test would prove nothing"
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        assert env[name] not in out.stderr, f"{name} reached the trace"


# -- 5. parse errors never quote a secret ---------------------------------------------------

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"aws_secret_access_key {SECRET}", "the aws_secret_access_key setting has no '='"),
        (SECRET, "cannot parse this line"),
        (f"aws_session_token{SECRET}", "cannot parse this line"),
    ],
)
def test_a_malformed_credentials_line_is_named_not_quoted(world: World, line: str, expected: str) -> None:
    world.write(credentials=f"[default]\naws_access_key_id = {SOURCE_KEY}\n{line}\n")
    out = world.run("env", "test")
    assert out.returncode != 0 and out.stdout == "false\n"
    assert f"{world.aws / 'credentials'} line 3: {expected}" in out.stderr, out.stderr
    status = world.run("status", "--json")
    assert f"line 3: {expected}" in status.stdout
    for text in (out.stderr, status.stdout, world.run("status").stdout, world.run("list").stderr):
        assert SECRET not in text
        assert SECRET[:12] not in text


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (SECRET, False),
        (f"{SOURCE_KEY} {SECRET}", False),
        ("my token is here", False),
        ("[profile test", True),
        ("this line is not a setting", True),
    ],
)
def test_a_malformed_config_line_is_quoted_only_when_it_cannot_be_a_secret(
    world: World, line: str, shown: bool
) -> None:
    world.write(SCENARIO_CONFIG + line + "\n")
    out = world.run("env", "test")
    assert out.returncode != 0 and out.stdout == "false\n"
    assert f"{world.aws / 'config'} line 8: cannot parse" in out.stderr, out.stderr
    assert (line in out.stderr) is shown, out.stderr


# -- 6. size caps on what STS and credential_process return ---------------------------------


def test_an_oversized_session_token_from_sts_is_refused(fake_world: World, sts_fake: StsFake) -> None:
    sts_fake.token_size = 200_000
    out = fake_world.shell(
        "bash", 'eval "$(switchrole env test)" && echo RAN; env | grep -c "^AWS_SESSION" || :'
    )
    assert "RAN" not in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "0", "something was exported"
    assert "session token of" in out.stderr and "16384" in out.stderr, out.stderr
    cp = fake_world.run("credential-process", "test")
    assert cp.returncode != 0 and cp.stdout == ""
    assert len(out.stderr) < 1000


def test_an_oversized_credential_process_value_is_refused(world: World, tmp_path: Path) -> None:
    script = tmp_path / "huge.py"
    script.write_text(
        "import json; print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAIOSFODNN7EXAMPLE',"
        " 'SecretAccessKey': 's', 'SessionToken': 'x' * 100000}))\n"
    )
    world.write(
        "[profile src]\n"
        f"credential_process = {sys.executable} {script}\n"
        "[profile viaproc]\nrole_arn = arn:aws:iam::222222222222:role/TestSwitchRole\nsource_profile = src\n"
    )
    out = world.run("env", "viaproc")
    assert out.returncode != 0 and out.stdout == "false\n"
    assert "source profile 'src' (process) returned a session token of 100000 bytes" in out.stderr


def test_render_refuses_an_oversized_value_whatever_the_agent_says() -> None:
    from switchrole import render

    with pytest.raises(render.RenderError, match="16385 bytes"):
        render.render("bash", {"AWS_SESSION_TOKEN": "x" * 16385})
    assert "'" + "x" * 16384 + "'" in render.render("bash", {"AWS_SESSION_TOKEN": "x" * 16384})


# -- 7. a squatted fallback runtime dir says how to recover ---------------------------------


def test_a_squatted_fallback_dir_says_how_to_recover(world: World) -> None:
    tmp = world.root / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    squatted = tmp / f"switchrole-{os.getuid()}"
    squatted.mkdir(mode=0o700)
    os.chown(squatted, NOBODY, NOBODY)
    fallback = {"XDG_RUNTIME_DIR": "", "TMPDIR": str(tmp)}
    out = world.run("env", "test", **fallback)
    assert out.returncode != 0 and out.stdout == "false\n"
    assert f"{squatted} is owned by uid {NOBODY}" in out.stderr
    assert "set XDG_RUNTIME_DIR to a private directory" in out.stderr and "SWITCHROLE_SOCKET" in out.stderr
    doctor = world.run("doctor", **fallback)
    fix = next(line for line in doctor.stdout.splitlines() if "owned by uid" in line)
    assert fix.startswith("FIX") and "XDG_RUNTIME_DIR" in fix and "SWITCHROLE_SOCKET" in fix
    # Following the hint works, and the squatter's directory was never touched.
    private = world.root / "private-run"
    private.mkdir(mode=0o700)
    assert world.run("env", "test", XDG_RUNTIME_DIR=str(private), TMPDIR=str(tmp)).returncode == 0
    assert list(squatted.iterdir()) == [] and squatted.stat().st_uid == NOBODY
    world.extra_env["XDG_RUNTIME_DIR"] = str(private)  # so the fixture stops that agent


# -- 8. daemon install whatever the umask ----------------------------------------------------


def test_daemon_install_under_umask_000_writes_private_files(world: World) -> None:
    config = world.root / "cfg"
    env = {**world.env, "XDG_CONFIG_HOME": str(config)}
    for attempt in range(2):  # a fresh install, then one over an existing unit file
        out = subprocess.run(
            shell_argv("bash", f"umask 000; exec {SWITCHROLE} daemon install"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        unit = config / "systemd" / "user" / "switchrole.service"
        assert stat.S_IMODE(unit.stat().st_mode) == 0o600, attempt
        assert "ExecStart=" in unit.read_text()
        for directory in (config, config / "systemd", config / "systemd" / "user"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        unit.chmod(0o644)
    assert [p.name for p in unit.parent.iterdir()] == ["switchrole.service"]


def test_daemon_install_leaves_existing_directories_alone(world: World) -> None:
    config = world.root / "cfg"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    out = subprocess.run(
        shell_argv("bash", f"umask 000; exec {SWITCHROLE} daemon install"),
        env={**world.env, "XDG_CONFIG_HOME": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o755
    assert stat.S_IMODE((config / "systemd").stat().st_mode) == 0o700


# -- 9. smaller findings --------------------------------------------------------------------


def test_version_skew_is_logged_with_both_versions(world: World) -> None:
    assert world.run("env", "test").returncode == 0
    pid = agent_pid(world)
    request = {"v": 1, "client": "0.0.1-old", "op": "ping"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(socket_file(world)))
        s.sendall(json.dumps(request).encode() + b"\n")
        reply = s.makefile("rb").readline()
    assert json.loads(reply)["error"]["code"] == "version_skew"
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = agent_log(world)
    assert f"client 0.0.1-old asked agent {switchrole.__version__}" in log


def test_credential_process_output_that_is_not_json_names_the_profile(world: World, tmp_path: Path) -> None:
    world.write(
        "[profile src]\ncredential_process = echo this is not json\n"
        "[profile viaproc]\nrole_arn = arn:aws:iam::222222222222:role/TestSwitchRole\nsource_profile = src\n"
    )
    out = world.run("env", "viaproc")
    assert out.returncode != 0 and out.stdout == "false\n"
    assert "internal error" not in out.stderr
    assert (
        "source profile 'src': credential_process gave output that is not valid credentials JSON"
        in out.stderr
    )


@pytest.mark.parametrize(
    ("config_extra", "env", "expected"),
    [
        ("region = us east 1\n", {}, "profile test: region = 'us east 1' is not a valid region name"),
        (
            "endpoint_url = not a url\n",
            {"AWS_ENDPOINT_URL_STS": ""},
            "profile test: endpoint_url = 'not a url'",
        ),
        ("", {"AWS_ENDPOINT_URL_STS": "ftp://127.0.0.1:1"}, "AWS_ENDPOINT_URL_STS = 'ftp://127.0.0.1:1'"),
        ("", {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:port"}, "is not a valid endpoint URL"),
    ],
)
def test_a_bad_region_or_endpoint_names_profile_setting_and_value(
    world: World, config_extra: str, env: dict[str, str], expected: str
) -> None:
    world.write(SCENARIO_CONFIG + config_extra, scenario_credentials())
    out = world.run("env", "test", **env)
    assert out.returncode != 0 and out.stdout == "false\n"
    assert expected in out.stderr, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
