"""``switchrole daemon install``: start the agent at login with systemd (Linux) or launchd (macOS).

Autostart by the first client stays the default; this is for people who want the agent up
before their first shell. The unit runs ``switchrole daemon run`` in the foreground with the
interpreter switchrole is installed in. No secret is ever written here.
"""

from __future__ import annotations

import os
import sys

from . import paths

SYSTEMD_UNIT = """\
[Unit]
Description=switchrole agent: AWS role sessions held in memory

[Service]
Type=simple
ExecStart={python} -m switchrole daemon run
Restart=on-failure
# The agent keeps secrets in memory only; keep them out of core dumps and other users' reach.
LimitCORE=0
UMask=0077
NoNewPrivileges=yes

[Install]
WantedBy=default.target
"""

LAUNCHD_PLIST = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>dev.switchrole.agent</string>
  <key>ProgramArguments</key>
  <array><string>{python}</string><string>-m</string><string>switchrole</string><string>daemon</string><string>run</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>ProcessType</key><string>Background</string>
</dict>
</plist>
"""


def service_file(platform: str = sys.platform) -> tuple[str, str, str]:
    """(path, content, how to enable it) for this platform."""
    home = os.path.expanduser("~")
    python = sys.executable
    if platform == "darwin":
        path = os.path.join(home, "Library", "LaunchAgents", "dev.switchrole.agent.plist")
        return path, LAUNCHD_PLIST.format(python=python), f"launchctl load -w {path}"
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    path = os.path.join(config, "systemd", "user", "switchrole.service")
    return (
        path,
        SYSTEMD_UNIT.format(python=python),
        "systemctl --user daemon-reload && systemctl --user enable --now switchrole",
    )


def _private_dirs(directory: str) -> None:
    """Create ``directory`` and any missing parents 0700, whatever the umask. Directories that
    already exist are left as they are: they are not ours to change."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def install() -> int:
    path, content, enable = service_file()
    _private_dirs(os.path.dirname(path))
    # 0600 whatever the umask: a unit file open to others would let them rewrite ExecStart=
    # and run code as you at login.
    paths.write_private(path, content)
    print(f"wrote {path}")
    print(f"enable it with: {enable}")
    return 0


def uninstall() -> int:
    path, _, _ = service_file()
    try:
        os.unlink(path)
    except FileNotFoundError:
        print(f"nothing to remove at {path}")
        return 0
    print(f"removed {path}")
    return 0
