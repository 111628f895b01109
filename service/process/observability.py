"""Operations: JSON logs with a request id on every line, and Prometheus metrics.

Metrics work under gunicorn's several worker processes through prometheus-client's
multiprocess mode: `certgate serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the
app is imported and sets CERTGATE_METRICS_MULTIPROCESS; in one process (tests) the default
registry is used.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter("certgate_http_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"])
LATENCY = Histogram("certgate_http_request_seconds", "HTTP request latency by route", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ISSUANCE = Histogram("certgate_issuance_seconds", "time to judge, sign and record one certificate",
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
IN_FLIGHT = Gauge("certgate_requests_in_flight", "requests being served (the queue inside the workers)",
                  multiprocess_mode="livesum")
PENDING = Gauge("certgate_pending_exceptions", "exceptions waiting for approvers", multiprocess_mode="liveall")

# The request being served: a context variable rather than `flask.g`, so that the log lines of a
# request answered below Flask (`service.api.fast_submit`) carry its id too.
REQUEST_ID: ContextVar[str | None] = ContextVar("certgate_request_id", default=None)
_access = logging.getLogger("certgate.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id (when in a request)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the root logger (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root.handlers = [handler]
    root.setLevel(level)


def request_started(supplied_id: str) -> tuple[str, float]:
    """Open a request: its id (the client's `X-Request-ID` when well-formed, else a new one), set
    for this context's log lines, and its start time; count it in flight."""
    request_id = supplied_id if _VALID_ID.match(supplied_id) else uuid.uuid4().hex
    REQUEST_ID.set(request_id)
    IN_FLIGHT.inc()
    return request_id, time.perf_counter()


def request_finished(route: str, method: str, path: str, status: int, started: float) -> None:
    """Close a request: its metrics and its access line (the path only: query strings may carry
    search terms, and never a token, those are headers)."""
    elapsed = time.perf_counter() - started
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(elapsed)
    _access.info("%s %s %s %.1fms", method, path, status, elapsed * 1000)


def request_closed() -> None:
    """The request's last step, whatever happened to it: no longer in flight, no longer the context's."""
    IN_FLIGHT.dec()
    REQUEST_ID.set(None)


def install(app: Flask) -> None:
    """Request ids, access logs, per-route metrics and the /metrics endpoint."""

    @app.before_request
    def _start() -> None:
        g.request_id, g.started = request_started(request.headers.get(REQUEST_ID_HEADER, ""))

    @app.after_request
    def _finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        request_finished(route, request.method, request.path, response.status_code, g.get("started", time.perf_counter()))
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _done(_exc: BaseException | None) -> None:
        if g.get("started") is not None:
            request_closed()

    app.add_url_rule("/metrics", "metrics", _metrics)


def _metrics() -> Response:
    from service.api.auth import runtime
    from service.usecases.read_reviews import count_pending

    with runtime().db.read() as session:
        PENDING.set(count_pending(session))
    if current_app.config.get("CERTGATE_METRICS_MULTIPROCESS"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
