"""Start the agent: harden the process, claim the socket, signal readiness, serve until told.

Started detached by the client (``--ready-fd``: the client waits for "ready" on that pipe) or
in the foreground by ``switchrole daemon run`` for systemd/launchd.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from .. import paths
from . import endpoint_port
from .harden import harden

if TYPE_CHECKING:
    from .sts import Sts

log = logging.getLogger("switchrole.agent")

# At exit, how long requests in flight may take to get their answers out.
DRAIN_TIMEOUT = 5.0


def _answering(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _warm_up(sts: Sts) -> None:
    # Loading the STS model takes a few hundred ms; do it while the first client is still on
    # its way, not inside its request.
    sts.warm_up()


def run(ready_fd: int | None) -> int:
    harden()
    # The agent never uses AWS settings or credentials from its own environment.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s switchrole-agent[%(process)d] %(message)s",
    )
    try:
        directory = paths.runtime_dir(create=True)
        sock_path = paths.socket_path(directory)
    except paths.RuntimeDirError as exc:
        log.error("%s", exc)
        return 1

    lock_fd: int | None = None
    if ready_fd is None:
        # Started by hand or by a service manager: take the autostart lock so a client
        # starting an agent at the same moment cannot race us for the socket.
        import fcntl

        lock_fd = os.open(paths.lock_path(sock_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if _answering(sock_path):
            log.error("an agent is already running on %s", sock_path)
            return 1
        if os.path.lexists(sock_path):
            os.unlink(sock_path)

    # Running endpoint jobs come back to the recorded port at any moment: claim it before the
    # imports below (botocore, asyncio, watchdog) take their few hundred milliseconds.
    claimed = endpoint_port.claim(paths.endpoint_port_path(directory))

    from . import wiring
    from .server import Server

    agent = wiring.build(
        sock_path, directory, idle_timeout=float(os.environ.get("SWITCHROLE_IDLE_TIMEOUT") or 1800)
    )
    server = Server(sock_path, agent.handle)
    # The endpoint's port first: a successor started by the next client binds it again.
    agent.shutdown.register(agent.endpoint.stop)
    agent.shutdown.register(server.stop)
    try:
        server.bind()
    except OSError as exc:
        log.error("cannot listen on %s: %s", sock_path, exc.strerror)
        return 1
    finally:
        if lock_fd is not None:
            os.close(lock_fd)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        agent.shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    threading.Thread(target=_warm_up, args=(agent.sts,), daemon=True).start()
    agent.refresher.start()
    # Jobs of a previous agent's endpoint shells are ours to serve now, with their tokens.
    agent.endpoint.restore(agent.env.credentials_for)
    if claimed is not None or agent.endpoint.recorded_port() is not None:
        # Shells of a previous agent may still hold the endpoint's URL: serve its port at once,
        # so the gap in which another user could bind it is only as long as the restart.
        try:
            agent.endpoint.start(claimed)
        except OSError as exc:
            log.warning("cannot start the loopback endpoint: %s", exc.strerror)
    agent.watcher.start()
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    log.info("listening on %s", sock_path)

    try:
        server.serve_forever()
    finally:
        server.drain(DRAIN_TIMEOUT)
        agent.watcher.stop()
        agent.refresher.stop()
        if agent.endpoint.active() == 0:
            agent.endpoint.forget_port()
        agent.endpoint.stop()
        agent.pages.clear()
        agent.states.clear()
        server.close()
        log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchrole-agent")
    parser.add_argument("--ready-fd", type=int, default=None)
    args = parser.parse_args(argv)
    return run(args.ready_fd)
