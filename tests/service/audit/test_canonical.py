"""Canonical audit-event bytes: exact layout, stability across round trips, refusals."""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest

from service.audit.canonical import (
    as_utc,
    canonical_event_bytes,
    event_leaf_hash,
    rfc3339_utc,
)

AT = datetime(2026, 3, 15, 12, 0, 0, 7, tzinfo=UTC)


def test_exact_bytes_of_version_1() -> None:
    got = canonical_event_bytes(
        0, "request:submitted", "alice", AT, "request:42", {"z": [1, None, True], "a": "é"}
    )
    assert got == (
        '{"actor":"alice","at":"2026-03-15T12:00:00.000007Z",'
        '"data":{"a":"é","z":[1,null,true]},"event":"request:submitted",'
        '"index":0,"subject":"request:42","v":1}'
    ).encode()
    assert "é".encode() in got  # UTF-8, not \\u00e9


def test_leaf_hash_is_rfc6962_leaf_of_the_canonical_bytes() -> None:
    data = {"serial": "0a1b"}
    raw = canonical_event_bytes(3, "certificate:issued", "ca", AT, "cert:0a1b", data)
    expected = hashlib.sha256(b"\x00" + raw).digest()
    assert event_leaf_hash(3, "certificate:issued", "ca", AT, "cert:0a1b", data) == expected


def test_nested_keys_are_sorted_whatever_the_insertion_order() -> None:
    one = canonical_event_bytes(1, "e", "a", AT, "s", {"b": {"y": 1, "x": 2}, "a": 0})
    two = canonical_event_bytes(1, "e", "a", AT, "s", {"a": 0, "b": {"x": 2, "y": 1}})
    assert one == two


def test_survives_a_json_round_trip_as_a_database_would_do() -> None:
    data = {"ips": ["192.0.2.1", "2001:db8::1"], "n": 2**62, "ok": False, "none": None, "t": "日本"}
    before = canonical_event_bytes(7, "e", "a", AT, "s", data)
    reloaded = json.loads(json.dumps(data))
    assert canonical_event_bytes(7, "e", "a", AT, "s", reloaded) == before


def test_naive_datetime_is_taken_as_utc() -> None:
    naive = AT.replace(tzinfo=None)  # what SQLite gives back
    assert canonical_event_bytes(1, "e", "a", naive, "s", {}) == canonical_event_bytes(
        1, "e", "a", AT, "s", {}
    )


def test_utc_offset_zero_from_another_tzinfo_is_accepted() -> None:
    other_utc = AT.replace(tzinfo=timezone(timedelta(0), "GMT"))
    assert canonical_event_bytes(1, "e", "a", other_utc, "s", {}) == canonical_event_bytes(
        1, "e", "a", AT, "s", {}
    )


def test_non_utc_datetime_is_refused() -> None:
    paris = AT.astimezone(timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match="UTC"):
        canonical_event_bytes(1, "e", "a", paris, "s", {})


def test_rfc3339_formatting() -> None:
    assert rfc3339_utc(datetime(1, 1, 1)) == "0001-01-01T00:00:00.000000Z"
    assert rfc3339_utc(datetime(2026, 12, 31, 23, 59, 59, 999999)) == "2026-12-31T23:59:59.999999Z"
    assert as_utc(datetime(2026, 1, 1)).tzinfo is UTC
    with pytest.raises(ValueError):
        as_utc("2026-01-01")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        {"x": 1.0},
        {"x": [1, 2.5]},
        {"x": {"y": float("nan")}},
        {1: "int key"},
        {"x": b"bytes"},
        {"x": AT},
        {"x": {1, 2}},
        {"x": "\ud800"},  # a lone surrogate has no UTF-8 form
    ],
)
def test_unstable_data_is_refused(data: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        canonical_event_bytes(1, "e", "a", AT, "s", data)


@pytest.mark.parametrize(
    ("index", "event", "actor", "subject"),
    [(-1, "e", "a", "s"), (True, "e", "a", "s"), ("1", "e", "a", "s"), (1, None, "a", "s"),
     (1, "e", 5, "s"), (1, "e", "a", b"s")],
)  # fmt: skip
def test_bad_scalar_fields_are_refused(index: object, event: object, actor: object, subject: object) -> None:
    with pytest.raises(ValueError):
        canonical_event_bytes(index, event, actor, AT, subject, {})  # type: ignore[arg-type]


def test_data_must_be_a_mapping() -> None:
    with pytest.raises(ValueError):
        canonical_event_bytes(1, "e", "a", AT, "s", [1, 2])  # type: ignore[arg-type]


def test_enums_and_read_only_mappings_serialise_as_plain_values() -> None:
    class Status(enum.StrEnum):
        ISSUED = "issued"

    class Count(enum.IntEnum):
        ONE = 1

    proxied = MappingProxyType({"status": Status.ISSUED, "n": Count.ONE, "t": ("a",)})
    assert canonical_event_bytes(1, "e", "a", AT, "s", proxied) == canonical_event_bytes(
        1, "e", "a", AT, "s", {"status": "issued", "n": 1, "t": ["a"]}
    )


def test_every_field_changes_the_hash() -> None:
    base = (5, "request:submitted", "alice", AT, "request:1", {"k": "v"})
    variants = [
        (6, *base[1:]),
        (5, "request:approved", *base[2:]),
        (5, "request:submitted", "bob", *base[3:]),
        (5, "request:submitted", "alice", AT + timedelta(microseconds=1), *base[4:]),
        (*base[:4], "request:2", {"k": "v"}),
        (*base[:5], {"k": "w"}),
    ]
    hashes = {event_leaf_hash(*base)} | {event_leaf_hash(*v) for v in variants}  # type: ignore[arg-type]
    assert len(hashes) == 1 + len(variants)
