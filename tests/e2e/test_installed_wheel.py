"""The built wheel, installed into a new virtual environment, runs init, serve and an issuance from any folder."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.factories import csr_pem

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "service", "policies", "alembic")


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only the wheel built from a copy of the sources; it returns the venv's bin/.

    The dependencies are not downloaded again: a `.pth` line lends the test venv's site-packages
    (where certgate itself is only an editable hook, inert when reached through a `.pth` line),
    and `pip check` proves the wheel's declared dependencies are met.
    """
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, src / name)
    env = _clean_env()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", work / "dist", src],
         cwd=work, env=env)
    wheels = list((work / "dist").glob("certgate-*.whl"))
    assert len(wheels) == 1
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work, env=env)
    purelib = next(venv.glob("lib/python*/site-packages"))
    (purelib / "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheels[0]], cwd=work, env=env)
    _run([python, "-m", "pip", "check"], cwd=work, env=env)
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CERTGATE_", "PYTHON", "VIRTUAL_ENV"))}


def test_the_installed_package_needs_nothing_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "some" / "folder"
    elsewhere.mkdir(parents=True)
    env = _clean_env()
    where = _run([installed / "python", "-c", "import service, certgate_migrations, policies;"
                  "print(service.__file__); print(certgate_migrations.__file__); print(policies.__file__)"],
                 cwd=elsewhere, env=env).stdout.split()
    assert all(Path(p).is_relative_to(installed.parent) for p in where), where
    certgate = installed / "certgate"
    _run([certgate, "init"], cwd=elsewhere, env=env)
    assert (elsewhere / "certgate-data" / "ca").is_dir()  # the default data dir, in the working directory
    token = _run([certgate, "token", "create", "--role", "requester", "--name", "alice"],
                 cwd=elsewhere, env=env).stdout.strip().splitlines()[-1]
    _run([certgate, "ranges", "add", "5.6.7.0/24", "--owner", "netops"], cwd=elsewhere, env=env)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([str(certgate), "serve", "--port", str(port), "--workers", "1"], cwd=elsewhere,
                              env={**env, "CERTGATE_BASE_URL": f"http://127.0.0.1:{port}"}, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, server, tmp_path / "serve.log")
        body = json.dumps({"csr": csr_pem(cn=None, ips=["5.6.7.8"]).decode()}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/requests", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, answer = resp.status, json.loads(resp.read())
        assert status == 201 and answer["status"] == "issued", answer
        assert "BEGIN CERTIFICATE" in answer["certificate"]["pem"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError("the installed server did not start:\n" + log.read_text())
