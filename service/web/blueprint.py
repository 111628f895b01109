"""The console's one blueprint: its templates, its own static files, its URL prefix."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
