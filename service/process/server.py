"""Serving the app under gunicorn (the production WSGI server) from Python."""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from service.process.runtime import Runtime
from service.process.tls import TlsContextSource, TlsPaths


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app built once in the master and shared by forked workers.

    Preloading builds the lint validator and loads the CA once; each worker then opens its own
    database connections (the pool is reset after fork).
    """

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key != "metrics_dir":
                self.cfg.set(key, value)
        self.cfg.set("pre_fork", _pre_fork)
        self.cfg.set("post_fork", _post_fork)
        self.cfg.set("child_exit", _child_exit)

    def load(self) -> Flask:
        return self.application


def _pre_fork(_server: Any, _worker: Any) -> None:
    """Move what the master built (app, CA, lint validators, range index) out of the collector's sight.

    A worker's full collection otherwise walks the ~220,000 objects it inherited on every pass
    (about 190 ms each, once per ~400 linted issuances in-process) and, by touching them,
    copies their shared pages. Frozen objects are never collected; they live as long as the
    master anyway. Called before each fork, so a respawned worker gets the same.
    """
    gc.collect()
    gc.freeze()


def _post_fork(_server: Any, worker: Any) -> None:
    runtime: Runtime = worker.app.application.extensions["certgate"]
    runtime.db.engine.dispose(close=False)
    runtime.db.checkpoint_in_background()
    validator = worker.app.application.extensions.get("certgate_acme_validator")
    if validator is not None:
        validator.kick()  # every worker validates ACME challenges that any worker or instance accepted


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def server_options(host: str, port: int, workers: int, *, backlog: int = 2048, timeout: int = 30) -> dict[str, Any]:
    """gunicorn settings for certgate: sync workers (CPU-bound signing), bounded queue.

    `backlog` bounds the kernel's accept queue: once it is full, new connections are refused
    (or their SYNs dropped until the client's connect timeout) instead of waiting without end.
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "preload_app": True,
        "backlog": backlog,
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "limit_request_line": 8190,
        "limit_request_fields": 100,
    }


def tls_options(paths: TlsPaths, context_source: TlsContextSource) -> dict[str, Any]:
    """gunicorn's SSL settings: the server certificate (with its chain) and the strict-context hook."""
    return {"certfile": str(paths.cert), "keyfile": str(paths.key), "ssl_context": context_source}
