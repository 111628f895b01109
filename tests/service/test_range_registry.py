"""Two workers' registries over one database: a change by one is seen by the other, incrementally."""

from __future__ import annotations

from datetime import UTC, datetime

from policies.addresses import parse_ip
from service.db.session import Database
from service.range_registry import RangeRegistry
from service.process.runtime import Runtime
from service.usecases.ranges import add_range, import_ranges, parse_import, remove_range

NOW = datetime(2026, 11, 29, tzinfo=UTC)


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def ip(text: str):  # type: ignore[no-untyped-def]
    parsed = parse_ip(text)
    assert parsed is not None
    return parsed


def test_changes_by_another_worker_are_replayed_within_the_refresh_interval(database_url: str) -> None:
    db_a, db_b = Database(database_url), Database(database_url)
    tick = Ticker()
    worker_b = RangeRegistry(db_b, refresh_seconds=0.5, monotonic=tick)
    assert not worker_b.covers(ip("5.6.7.8"))
    with db_a.write() as session:
        row = add_range(session, cidr="5.6.7.0/24", owner="netops", actor="a", now=NOW)
        add_range(session, cidr="5.6.0.0/16", owner="wide", actor="a", now=NOW)
    assert not worker_b.covers(ip("5.6.7.8"))  # still within its refresh interval
    tick.t += 0.5
    match = worker_b.lookup(ip("5.6.7.8"))
    assert match is not None and match.owner == "netops"  # the most specific range wins
    with db_a.write() as session:
        remove_range(session, range_id=row.id, actor="a", now=NOW)
    tick.t += 0.5
    match = worker_b.lookup(ip("5.6.7.8"))
    assert match is not None and match.owner == "wide"
    db_a.dispose()
    db_b.dispose()


def test_the_head_check_makes_a_change_visible_to_the_next_request(database_url: str) -> None:
    """With the clock stopped (no time-based refresh), only the per-request head check can see a change."""
    from service.change_heads import ChangeHeads

    db_a, db_b = Database(database_url), Database(database_url)
    worker_b = RangeRegistry(db_b, refresh_seconds=0.5, monotonic=Ticker())
    heads = ChangeHeads([worker_b])
    worker_b.refresh()
    for round_ in range(3):
        with db_a.write() as session:
            row = add_range(session, cidr="5.6.7.0/24", owner=f"netops-{round_}", actor="a", now=NOW)
        assert not worker_b.covers(ip("5.6.7.8"))  # no request has started since the change
        with db_b.direct_read() as reads:
            heads.catch_up(reads)
        match = worker_b.lookup(ip("5.6.7.8"))
        assert match is not None and match.owner == f"netops-{round_}"
        with db_a.write() as session:
            remove_range(session, range_id=row.id, actor="a", now=NOW)
        with db_b.direct_read() as reads:
            heads.catch_up(reads)
        assert worker_b.lookup(ip("5.6.7.8")) is None
    db_a.dispose()
    db_b.dispose()


def test_one_statement_reads_every_log_head(database_url: str) -> None:
    """The shape the owned-domain registry joins: several logs, one read, NULL for an empty log."""
    from service.change_heads import heads_statement
    from service.db.models import RangeChange, table_of

    db = Database(database_url)
    log = table_of(RangeChange)
    with db.write() as session:
        add_range(session, cidr="5.6.7.0/24", owner="n", actor="a", now=NOW)
    with db.direct_read() as reads:
        (head, again), = reads.rows(heads_statement([log, log]))
    assert head == again and head is not None and head >= 1
    db.dispose()


def test_bulk_import_makes_workers_rebuild(database_url: str) -> None:
    db = Database(database_url)
    tick = Ticker()
    worker = RangeRegistry(db, refresh_seconds=0.5, monotonic=tick)
    worker.refresh()
    parsed = parse_import([f"44.{i // 256}.{i % 256}.0/24,bulk\n" for i in range(2000)])
    with db.write() as session:
        import_ranges(session, parsed, actor="cli", now=NOW)
    tick.t += 1
    assert worker.covers(ip("44.7.207.9"))
    assert len(worker.current()) == 2000
    db.dispose()


def _numeric_columns_agree_with_cidr(db: Database) -> int:
    """Every row's numeric form is its CIDR text's; returns the row count."""
    from policies.cidr import parse_cidr
    from policies.range_rows import stored_first

    with db.read() as session:
        rows = session.connection().exec_driver_sql(
            "SELECT cidr, version, first_high, first_low, prefix_len FROM owned_ranges").all()
    for cidr, version, high, low, plen in rows:
        parsed = parse_cidr(cidr)
        assert (version, high, low, plen) == (parsed.version, *stored_first(parsed.version, parsed.first), parsed.prefix_len), cidr
    return len(rows)


def test_add_and_import_write_the_numeric_form_and_ids_follow_the_addresses(database_url: str) -> None:
    db = Database(database_url)
    with db.write() as session:
        add_range(session, cidr="ff00::/8", owner="top-bit", actor="a", now=NOW)
        add_range(session, cidr="2001:db8::/32", owner="doc", actor="a", now=NOW)
        add_range(session, cidr="10.0.0.0/8", owner="ten", actor="a", now=NOW)
    lines = ["203.0.113.0/24,z\n", "10.1.0.0/16,a\n", "fc00::/7,u\n", "10.0.0.0/8,dup\n", "10.0.0.0/16,b\n"]
    with db.write() as session:
        import_ranges(session, parse_import(lines), actor="cli", now=NOW)
    assert _numeric_columns_agree_with_cidr(db) == 7
    with db.read() as session:
        imported = [c for (c,) in session.connection().exec_driver_sql("SELECT cidr FROM owned_ranges WHERE id > 3 ORDER BY id")]
    assert imported == ["10.0.0.0/16", "10.1.0.0/16", "203.0.113.0/24", "fc00::/7"]
    worker = RangeRegistry(db)
    for address, owner in [("10.0.3.4", "b"), ("10.2.0.1", "ten"), ("ff01::1", "top-bit"), ("fd00::1", "u"), ("2001:db8::1", "doc")]:
        match = worker.lookup(ip(address))
        assert match is not None and match.owner == owner, address
    db.dispose()


def test_a_full_build_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    from service.range_registry import _no_cycle_collection

    assert gc.isenabled()
    with _no_cycle_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _no_cycle_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    try:
        with _no_cycle_collection():
            raise RuntimeError("a failed build")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_warm_up_builds_the_index_before_any_lookup(runtime: Runtime) -> None:
    """`certgate serve` warms up in gunicorn's master, so forked workers start with the index."""
    with runtime.db.write() as session:
        add_range(session, cidr="5.6.7.0/24", owner="netops", actor="test", now=datetime.now(UTC))
    assert not runtime.ranges.built
    runtime.warm_up()
    assert runtime.ranges.built
    assert runtime.ranges.lookup("5.6.7.8") is not None
