"""A user's machine: a throwaway HOME with ~/.aws files, a private runtime dir and STS on
127.0.0.1; the README's scenario (keys, roles, config); how each shell is started, switched and
set up the documented way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.agent import alive
from support.waiting import wait_for
from switchrole import wire

if TYPE_CHECKING:
    from support.sts_fake import StsFake

BIN = Path(sys.executable).parent
SWITCHROLE = str(BIN / "switchrole")
SHELLS = ("bash", "zsh", "fish")
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "shell"
# Another local user, for the attacks: `[*AS_NOBODY, SYSTEM_PYTHON, ...]` runs as nobody, with
# the system's interpreter (nobody may be unable to reach the interpreter under root's HOME).
NOBODY = 65534
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

SOURCE_KEY = "AKIAIOSFODNN7EXAMPLE"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE_ARN = "arn:aws:iam::222222222222:role/TestSwitchRole"
ROLE2_ARN = "arn:aws:iam::222222222222:role/SecondRole"
# The MFA device of the user the STS fake knows by default, and a role that demands it.
MFA_SERIAL = "arn:aws:iam::111111111111:mfa/alice"
MFA_ROLE = "arn:aws:iam::333333333333:role/MfaAdmin"

DEFAULT_PROFILE = """\
[profile default]
region = ap-northeast-1
output = json
"""

SCENARIO_CONFIG = f"""\
{DEFAULT_PROFILE}
[profile test]
role_arn = {ROLE_ARN}
source_profile = default
"""

# The scenario with a second role profile, `second`, for the tests where two profiles differ.
TWO_ROLES_CONFIG = SCENARIO_CONFIG + f"\n[profile second]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n"

# IAM Identity Center as the AWS CLI v2 writes it: one sso-session, two permission-set profiles
# in two accounts, and a role chained on top of one of them.
SSO_START_URL = "https://corp.awsapps.com/start"
SSO_DEV = ("333333333333", "Developer")
SSO_OPS = ("444444444444", "Operator")
SSO_CHAINED_ROLE = "arn:aws:iam::555555555555:role/Deploy"
SSO_CONFIG = f"""\
{DEFAULT_PROFILE}
[sso-session corp]
sso_start_url = {SSO_START_URL}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile dev]
sso_session = corp
sso_account_id = {SSO_DEV[0]}
sso_role_name = {SSO_DEV[1]}
region = eu-west-1

[profile ops]
sso_session = corp
sso_account_id = {SSO_OPS[0]}
sso_role_name = {SSO_OPS[1]}

[profile deploy]
role_arn = {SSO_CHAINED_ROLE}
source_profile = dev
"""

# The init line exactly as the README tells users to write it.
INIT_LINE = {
    "bash": 'eval "$(switchrole init bash)"',
    "zsh": 'eval "$(switchrole init zsh)"',
    "fish": "switchrole init fish | source",
}


def credentials_section(section: str, key: str, secret: str) -> str:
    """A section of ~/.aws/credentials holding static keys."""
    return f"[{section}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"


def scenario_credentials(key: str = SOURCE_KEY, secret: str = SOURCE_SECRET) -> str:
    """The scenario's ~/.aws/credentials: the source keys in [default]."""
    return credentials_section("default", key, secret)


def shell_argv(shell: str, script: str) -> list[str]:
    """Run ``script`` in a real, non-interactive shell that reads no rc file."""
    if shell == "bash":
        return ["bash", "--norc", "--noprofile", "-c", script]
    if shell == "zsh":
        return ["zsh", "-f", "-c", script]
    if shell == "fish":
        return ["fish", "--no-config", "-c", script]
    raise ValueError(shell)


def eval_line(shell: str, args: str) -> str:
    """The documented way to switch in each shell."""
    if shell == "fish":
        return f"switchrole {args} | source"
    return f'eval "$(switchrole {args})"'


@dataclass
class World:
    """A user: a HOME with ~/.aws files, a private runtime dir, and STS on 127.0.0.1."""

    root: Path
    sts_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def runtime(self) -> Path:
        return self.root / "run"

    @property
    def aws(self) -> Path:
        return self.home / ".aws"

    def write(self, config: str = SCENARIO_CONFIG, credentials: str | None = None) -> None:
        self.aws.mkdir(parents=True, exist_ok=True)
        (self.aws / "config").write_text(config)
        (self.aws / "credentials").write_text(scenario_credentials() if credentials is None else credentials)

    @property
    def env(self) -> dict[str, str]:
        env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "USER": "tester",
            "LANG": "C.UTF-8",
            "TERM": "xterm",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "AWS_ENDPOINT_URL_STS": self.sts_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(self.extra_env)
        return env

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SWITCHROLE, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )

    def shell(
        self, shell: str, script: str, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            shell_argv(shell, script),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    def context(self) -> wire.Context:
        """The request context a shell of this world sends (so a request made here and one made
        by `switchrole env` hit one session)."""
        return wire.context(
            str(self.aws / "config"),
            str(self.aws / "credentials"),
            {"AWS_ENDPOINT_URL_STS": self.sts_url},
            self.env["USER"],
        )

    def status(self) -> dict[str, Any]:
        out = self.run("status", "--json")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def agent_pid(self) -> int | None:
        """The pid of this world's agent, None when none runs."""
        try:
            status = self.status()
        except (ValueError, subprocess.TimeoutExpired):
            return None
        return int(status["pid"]) if status.get("running") else None

    def stop_agent(self) -> bool:
        """SIGTERM to the pid the agent reports (only ever this world's agent), SIGKILL if it has
        not exited 10 s later; whether SIGTERM was enough (True when no agent ran)."""
        pid = self.agent_pid()
        if pid is None:
            return True
        os.kill(pid, signal.SIGTERM)
        # The agent's parent (the client that started it) is gone: it is nobody's child to reap,
        # and an exited agent stays a zombie until init gets to it. A zombie has stopped.
        try:
            wait_for(lambda: not alive(pid), 10, interval=0.01, what=f"the agent (pid {pid}) to exit")
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
            return False
        return True


def new_root(prefix: str = "sr-") -> Path:
    """A fresh directory for a world, with its empty HOME and private runtime dir."""
    # Short paths: Unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / "home").mkdir()
    (root / "run").mkdir(mode=0o700)
    return root


def make_world(sts_url: str) -> World:
    """The README's scenario against the STS at ``sts_url``."""
    world = World(new_root(), sts_url)
    world.write()
    return world


def two_roles_world(lifetime: int) -> tuple[StsFake, World]:
    """A started strict STS fake that knows the scenario's key and both roles and issues
    credentials for ``lifetime`` seconds, and a world using it with TWO_ROLES_CONFIG."""
    from support.sts_fake import Role, StsFake

    fake = StsFake().start()
    fake.add_user_key(SOURCE_KEY, SOURCE_SECRET)
    fake.add_role(Role(ROLE_ARN))
    fake.add_role(Role(ROLE2_ARN))
    fake.lifetime = lifetime
    world = make_world(fake.url)
    world.write(TWO_ROLES_CONFIG)
    return fake, world


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under root whose bytes contain needle (sockets and fifos skipped)."""
    hits = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if not path.is_file() or path.is_symlink():
                continue
            try:
                if needle.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits
