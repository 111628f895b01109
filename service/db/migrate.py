"""Running the Alembic migrations from code (`certgate init`, tests)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_PACKAGE = "certgate_migrations"  # the top-level alembic/ folder, as installed (setup.py)


def _holds_migrations(folder: Path) -> bool:
    return (folder / "env.py").is_file() and (folder / "versions").is_dir()


def alembic_dir() -> Path:
    """The migrations: the installed `certgate_migrations` package, else `alembic/` beside the source tree.

    Never the working directory: an installed certgate runs from anywhere.

    Raises:
        FileNotFoundError: neither place holds the migrations.
    """
    try:
        installed = resources.files(MIGRATIONS_PACKAGE)
    except (ModuleNotFoundError, NotADirectoryError):  # not installed; or a checkout's namespace view of alembic/
        installed = None
    if isinstance(installed, Path) and _holds_migrations(installed):
        return installed
    beside = Path(__file__).resolve().parents[2] / "alembic"
    if _holds_migrations(beside):
        return beside
    raise FileNotFoundError(f"the migrations were not found: no {MIGRATIONS_PACKAGE} package and no alembic/ folder")


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest schema (idempotent)."""
    command.upgrade(alembic_config(database_url), "head")
