"""N worker processes on one port: each its own store connection, snapshots and event loop.

One Python process uses one core; a kube-apiserver's reviews spread over the workers because
each binds the port with SO_REUSEPORT and the kernel balances new connections between them.
Workers share nothing in memory: a change reaches each through the database (NOTIFY on
PostgreSQL, the revision poll everywhere), as it reaches another replica.

The parent only supervises: it forks the workers, restarts one that dies, and on SIGTERM or
SIGINT passes the signal on and waits while every worker drains its requests. Metrics are
collected across workers through prometheus-client's multiprocess directory, which the parent
creates before anything imports prometheus-client and removes at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable

log = logging.getLogger("kubegate")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
QUICK_DEATH = 5.0  # seconds: a worker dying sooner after its start is failing to start, not crashing


def prepare_metrics_dir() -> str:
    """A fresh multiprocess metrics folder, named in the environment every worker inherits."""
    folder = tempfile.mkdtemp(prefix="kubegate-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    return folder


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers bind too (the kernel spreads connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(count: int, run_worker: Callable[[int], int], metrics_dir: str | None = None) -> int:
    """Run ``count`` workers (``run_worker(index)`` in a forked child; its return is the exit code)
    until a signal stops them; the exit code: 0 after a signal, 1 if the workers cannot start."""
    started: dict[int, tuple[int, float]] = {}  # pid -> (index, start time)
    stopping = False
    failures = 0

    def fork(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            code = 1
            try:
                code = run_worker(index)
            except SystemExit as exc:  # serve() turns the drained SIGTERM into SystemExit(0)
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        started[pid] = (index, time.monotonic())

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    for index in range(count):
        fork(index)
    try:
        while started:
            pid, status = os.wait()
            if pid not in started:
                continue
            index, at = started.pop(pid)
            _forget_metrics(pid)
            if stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if time.monotonic() - at < QUICK_DEATH:
                failures += 1
                if failures >= count:  # they cannot start (a port in use, a database that refuses us)
                    log.error("workers keep failing to start (last exit %d): stopping", code)
                    stop(signal.SIGTERM, None)
                    stopping = True
                    continue
            log.error("worker %d (pid %d) exited with %d; starting another", index, pid, code)
            fork(index)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 1 if failures >= count else 0


def _forget_metrics(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from kubegate.api import metrics

        metrics.worker_exited(pid)
