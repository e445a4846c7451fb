"""``switchrole demo``: the README scenario against a local STS emulator, no AWS account needed.

It builds a throwaway HOME with the usual ~/.aws/credentials and ~/.aws/config, starts moto's
STS on 127.0.0.1 and a private agent, and walks `eval "$(switchrole env test)"` end to end in a
real shell. ``--shell`` then leaves you in an interactive shell inside that world to try it.
Nothing outside the temporary directory is touched, and everything started is stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .commands import INIT_LINE

CONFIG = """\
[profile default]
region = ap-northeast-1
output = json

[profile test]
role_arn = arn:aws:iam::222222222222:role/TestSwitchRole
source_profile = default
"""
# Documentation example keys: the emulator accepts any key.
CREDENTIALS = """\
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
"""

CHECK = """\
import json, boto3
print(json.dumps(boto3.client("sts").get_caller_identity()["Arn"]))
"""


# Printed by the demo's shell right after the switch: the time shown is the switch's alone, not
# the AWS CLI's start after it (which takes longer than the whole switch).
SWITCHED = "@@switchrole-demo-switched@@"


def _run_timed(shell: str, script: str, env: dict[str, str]) -> tuple[int, str, float | None]:
    """Run script in shell: its exit status, its output, and the seconds until it printed SWITCHED."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [shell, "-c", script], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # A deadline, as subprocess.run(timeout=) gave: reading line by line has none of its own.
    deadline = threading.Timer(60, proc.kill)
    deadline.start()
    lines: list[str] = []
    switched: float | None = None
    try:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                if switched is None and line.rstrip("\n") == SWITCHED:
                    switched = time.monotonic() - start
                else:
                    lines.append(line)
    finally:
        deadline.cancel()
    return proc.wait(), "".join(lines), switched


def _warm_up(url: str) -> None:
    """Send the emulator one STS request: moto loads its STS backend on the first one (a few
    tenths of a second), which would otherwise be counted as switchrole's first switch."""
    import http.client
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the emulator's own http:// URL on 127.0.0.1
        url,
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            # moto picks the service from the credential scope and checks no signature.
            "Authorization": "AWS4-HMAC-SHA256 Credential=demo/20240101/us-east-1/sts/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(request, timeout=10).close()
    except (OSError, http.client.HTTPException):
        pass  # only a warm-up: the switch after it reports an emulator that does not answer


def _say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"==> {text}", flush=True)


def _shell() -> str:
    for name in (os.path.basename(os.environ.get("SHELL", "")), "bash"):
        if name in ("bash", "zsh", "fish") and shutil.which(name):
            return name
    return "bash"


def _switch_line(shell: str) -> str:
    from .cli import switch_line

    return switch_line(shell, "test")


def _rc_files(shell: str, home: Path) -> dict[str, str]:
    """Start-up files that install the integration as the README says, with an indicator."""
    if shell == "fish":
        config = home / ".config" / "fish"
        config.mkdir(parents=True, exist_ok=True)
        (config / "config.fish").write_text(
            f"{INIT_LINE['fish']}\n"
            "function fish_prompt; echo -n '(switchrole demo) '(switchrole_prompt)'> '; end\n"
        )
        return {"XDG_CONFIG_HOME": str(home / ".config")}
    rc = home / (".zshrc" if shell == "zsh" else ".bashrc")
    prompt = "setopt PROMPT_SUBST\n" if shell == "zsh" else ""
    rc.write_text(f"{INIT_LINE[shell]}\n{prompt}PS1='(switchrole demo) $(switchrole_prompt)$ '\n")
    return {"ZDOTDIR": str(home)} if shell == "zsh" else {}


def main(args: list[str]) -> int:
    interactive = "--shell" in args
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        sys.stderr.write(
            "switchrole: the demo needs the local STS emulator: pip install '.[demo]' in the checkout\n"
        )
        return 1
    root = Path(tempfile.mkdtemp(prefix="sr-demo-"))
    home, run = root / "home", root / "run"
    (home / ".aws").mkdir(parents=True)
    run.mkdir(mode=0o700)
    (home / ".aws" / "config").write_text(CONFIG)
    (home / ".aws" / "credentials").write_text(CREDENTIALS)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # The directory of the interpreter that runs us holds our console script: put it first so
    # the demo measures switchrole itself, not a version-manager shim in front of it.
    exe_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHROLE_"))}
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(run),
        AWS_ENDPOINT_URL_STS=f"http://{host}:{port}",
        PATH=os.pathsep.join(p for p in (exe_dir, env.get("PATH", "")) if p),
    )
    shell = _shell()

    def interrupted(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwind through `finally`: stop the agent and the emulator

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        _warm_up(f"http://{host}:{port}")
        _say(f"A throwaway HOME at {home}, STS emulator at http://{host}:{port}")
        print("~/.aws/credentials:\n" + CREDENTIALS.replace(CREDENTIALS.split("= ")[2].strip(), "…"))
        print("~/.aws/config:\n" + CONFIG)
        check = (
            "aws sts get-caller-identity --query Arn --output text"
            if shutil.which("aws", path=env["PATH"])
            else f"{sys.executable} -c '{CHECK}'"
        )
        show = (
            "env | grep -E '^(AWS|SWITCHROLE)_'"
            " | sed -E 's/(SECRET_ACCESS_KEY|SESSION_TOKEN)=.*/\\1=<hidden>/'"
        )
        script = f"{_switch_line(shell)}\necho {SWITCHED}\n{show} | sort\n{check}"
        _say(f"In {shell}: {_switch_line(shell)}   (the first call starts the agent)")
        returncode, output, switched = _run_timed(shell, script, env)
        print(output, end="")
        if returncode != 0 or switched is None:
            return 1
        print(f"(the switch took {switched:.2f} s, including the agent's start and the AssumeRole)")
        _say("Again, now answered from the agent's memory: no STS call")
        start = time.monotonic()
        subprocess.run(
            ["switchrole", "env", "test", "--shell", shell],
            env=env,
            capture_output=True,
            check=True,
        )
        print(f"(took {(time.monotonic() - start) * 1000:.0f} ms)")
        _say("switchrole status (never shows a secret)")
        subprocess.run(["switchrole", "status"], env=env, check=False)
        if interactive:
            _say(
                f"Your turn: an interactive {shell} in the demo world, with the prompt hook installed. "
                f"Try:  switchrole use test   (or {_switch_line(shell)});  aws sts get-caller-identity"
                "   (exit to finish)"
            )
            subprocess.run([shell, "-i"], env={**env, **_rc_files(shell, home)}, check=False, cwd=home)
        else:
            _say("Run `switchrole demo --shell` to try it yourself in an interactive shell.")
        return 0
    finally:
        # `daemon stop` waits until the demo's agent has exited.
        subprocess.run(["switchrole", "daemon", "stop"], env=env, capture_output=True, check=False)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
