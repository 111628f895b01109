"""What every CLI command shares: settings, an opened database, the clock, the CLI actor."""

from __future__ import annotations

import getpass
import logging
import sys
from datetime import UTC, datetime

import click

from service.process.config import Settings
from service.db.session import Database


def setup_logging() -> None:
    """Warnings and errors to stderr, one line each."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def settings() -> Settings:
    """Settings from the environment (the only reader of it); a bad setting exits non-zero."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def database(s: Settings) -> Database:
    """The configured database."""
    return Database(s.database_url)


def now() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


def cli_actor() -> str:
    """The actor the audit log records for CLI changes: `cli:<OS user>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"
