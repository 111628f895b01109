"""Packaging beyond pyproject.toml: the top-level `alembic/` folder ships as `certgate_migrations`.

The migrations stay where the project layout wants them (`alembic/`, beside `alembic.ini`) and
are installed under a name of their own: a package called `alembic` would shadow the library,
and so would an `alembic/__init__.py` in the checkout (the working directory is on `sys.path`).
The build writes the package's `__init__.py` itself, so the installed migrations are a regular
package that `service.db.migrate` finds with importlib.resources from any working directory.
Everything else (metadata, dependencies, package data) is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

MIGRATIONS = "certgate_migrations"


class BuildPyWithMigrations(build_py):
    """`build_py`, then the `__init__.py` that the migrations package has only once built."""

    def run(self) -> None:
        super().run()
        init = Path(self.build_lib) / MIGRATIONS / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text('"""certgate\'s Alembic migrations: the `alembic/` folder of the source tree."""\n')


setup(
    packages=find_packages(include=["service", "service.*", "policies", "policies.*"]) + [MIGRATIONS, f"{MIGRATIONS}.versions"],
    package_dir={MIGRATIONS: "alembic"},
    cmdclass={"build_py": BuildPyWithMigrations},
)
