"""`create_app`: the one composition root."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from service.api import audit, batches, certificates, domains, exceptions, health, pki, policy, ranges, requests, revocation
from service.acme.routes import install as install_acme
from service.api.errors import register_error_handlers
from service.api.fast_submit import FastSubmit
from service.api.schemas import ErrorSchema
from service.process.config import Settings
from service.process.observability import install as install_observability
from service.process.runtime import Clock, Runtime, utc_now
from service.web import install_console


# Swagger UI's script and styles come from the swagger-ui-bundle package, served by certgate
# itself: an internal CA often has no way out to a CDN.
SWAGGER_UI_ASSETS = "/docs/swagger-ui/"


def _swagger_ui_asset(filename: str) -> Response:
    """A file of the bundled Swagger UI (404 outside its folder)."""
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now, runtime: Runtime | None = None) -> Flask:
    """Build the Flask app over an opened runtime (settings from the environment by default)."""
    settings = settings or Settings.from_env()
    rt = runtime or Runtime.open(settings, clock=clock)
    app = Flask("certgate")
    app.config.update(_api_config(settings))
    app.extensions["certgate"] = rt
    api = Api()
    api.ERROR_SCHEMA = ErrorSchema  # document the contract's `{"error": {...}}` body, not flask-smorest's own
    api.init_app(app)
    app.add_url_rule(f"{SWAGGER_UI_ASSETS}<path:filename>", "swagger_ui_assets", _swagger_ui_asset)
    for module in (requests, batches, exceptions, certificates, ranges, domains, audit, policy):
        api.register_blueprint(module.blp)
    for module_bp in (pki.blp, revocation.blp, health.blp):
        app.register_blueprint(module_bp)
    install_console(app, rt)
    install_acme(app, rt)
    install_observability(app)

    @app.after_request
    def _sign_tree_head(response: Response) -> Response:
        if request.method != "GET" and response.status_code < 500:
            rt.ledger.sign_if_stale(rt.clock())
        return response

    register_error_handlers(app)
    app.wsgi_app = FastSubmit(app, rt, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _api_config(settings: Settings) -> dict[str, Any]:
    return {
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
        "API_TITLE": "certgate",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS,
        "JSON_SORT_KEYS": False,
    }
