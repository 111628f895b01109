"""Serving the app under granian (a Rust HTTP server with a WSGI interface), forked from one built app.

The master builds the app (CA, lint validators, range index) once, freezes it out of the
collector's sight and forks the workers, as the gunicorn path does; each worker then reopens its
database pool and starts its WAL checkpointer. granian's HTTP/1.1 parsing, keep-alive and TLS
(rustls) run in Rust threads outside the GIL; the WSGI callable runs on `blocking_threads`
Python threads per worker (1 by default: certgate's requests are CPU-bound, and one thread per
process keeps the request handling exactly as single-threaded as a gunicorn sync worker).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from granian.constants import Interfaces, SSLProtocols
from granian.log import LogLevels
from granian.server import MPServer

from service.process.runtime import Runtime

log = logging.getLogger("certgate")


@dataclass(frozen=True)
class GranianOptions:
    """What `certgate serve` sets on granian; the same knobs as `server.server_options`."""

    host: str
    port: int
    workers: int
    backlog: int = 2048
    graceful_timeout: int = 10
    blocking_threads: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Called every `tls_recheck_seconds` in the master; True when it renewed the files, and the
    # workers are then replaced one by one (granian's reload) to load them: rustls reads the
    # certificate when a worker starts, not per connection as gunicorn's `ssl_context` hook does.
    tls_renew: Callable[[], bool] | None = None
    tls_recheck_seconds: float = 60.0


class _CertgateGranian(MPServer):
    """granian's process manager, told when a worker is replaced so its live metrics go with it."""

    def _respawn_workers(self, workers: Any, spawn_target: Any, target_loader: Any, delay: float = 0) -> Any:
        gone = [self.wrks[idx].inner.pid for idx in workers if idx < len(self.wrks)]
        result = super()._respawn_workers(workers, spawn_target, target_loader, delay)
        _mark_dead(gone)
        return result

    def _stop_workers(self) -> Any:
        gone = [w.inner.pid for w in self.wrks]
        result = super()._stop_workers()  # type: ignore[no-untyped-call]
        _mark_dead(gone)
        return result


def _mark_dead(pids: list[int | None]) -> None:
    """prometheus-client's multiprocess clean-up for workers that are gone (gunicorn's `child_exit`)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    for pid in pids:
        if pid is not None:
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def run_granian(app: Flask, options: GranianOptions) -> None:
    """Serve certgate's `app` until SIGINT/SIGTERM: workers forked from this process, restarted when they die.

    Raises:
        RuntimeError: the platform cannot fork (granian would re-import instead of sharing).
    """
    run_granian_bare(app, options, in_worker=_in_worker)


def run_granian_bare(app: Flask, options: GranianOptions, in_worker: Callable[[Flask], Flask] | None = None) -> None:
    """Serve any WSGI `app` the way `run_granian` serves certgate's (`in_worker` runs first in each worker).

    Raises:
        RuntimeError: the platform cannot fork.
    """
    if multiprocessing.get_start_method(allow_none=True) not in (None, "fork"):
        raise RuntimeError("granian workers must be forked from the built app")
    multiprocessing.set_start_method("fork", force=True)
    tls = options.tls_cert is not None and options.tls_key is not None
    server = _CertgateGranian(
        "certgate",
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        workers=options.workers,
        blocking_threads=options.blocking_threads,
        backlog=options.backlog,
        log_level=LogLevels.warning,
        log_access=False,  # certgate writes its own access lines, with request ids (observability.py)
        respawn_failed_workers=True,
        workers_kill_timeout=options.graceful_timeout,
        ssl_cert=options.tls_cert if tls else None,
        ssl_key=options.tls_key if tls else None,
        ssl_protocol_min=SSLProtocols.tls12,
        websockets=False,
    )
    if options.tls_renew is not None:
        _watch_tls(server, options.tls_renew, options.tls_recheck_seconds)
    # See server._pre_fork: the inherited objects are never collected in a worker.
    gc.collect()
    gc.freeze()
    server.serve(target_loader=lambda: in_worker(app) if in_worker else app, wrap_loader=False)


def _watch_tls(server: MPServer, renew: Callable[[], bool], every: float) -> None:
    """A master thread: renew the server certificate when due, then have granian respawn the workers."""
    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                renewed = renew()
            except Exception:  # noqa: BLE001 - keep serving the current certificate; try again later
                log.exception("TLS: renewing the server certificate failed; serving the current one")
                continue
            if renewed:
                log.warning("TLS: server certificate renewed; restarting the workers to load it")
                server.signal_handler_reload()  # type: ignore[no-untyped-call]

    threading.Thread(target=watch, name="tls-renewal", daemon=True).start()


def _in_worker(app: Flask) -> Flask:
    """Runs first in each forked worker: its own database connections and checkpointer."""
    runtime: Runtime = app.extensions["certgate"]
    runtime.db.engine.dispose(close=False)
    runtime.db.checkpoint_in_background()
    return app
