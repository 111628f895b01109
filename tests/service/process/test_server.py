"""gunicorn's hooks: what the master built is frozen out of the workers' garbage collections."""

from __future__ import annotations

import gc

from service.process.server import GunicornServer, _pre_fork


def test_pre_fork_freezes_what_the_master_built() -> None:
    kept = [object() for _ in range(10)], {"a": [1, 2]}
    assert gc.is_tracked(kept)
    try:
        _pre_fork(None, None)
        assert gc.get_freeze_count() >= len(gc.get_referents(kept))
        assert not any(o is kept for o in gc.get_objects())  # frozen objects leave the generations
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())


def test_the_server_installs_the_hook() -> None:
    from flask import Flask

    server = GunicornServer(Flask("t"), {"bind": "127.0.0.1:0", "workers": 1})
    assert server.cfg.pre_fork is _pre_fork
