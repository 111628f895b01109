"""The canonical, versioned bytes of an audit event: what its Merkle leaf hash covers.

Version 1 is a JSON object with exactly the keys `v` (1), `index`, `event`, `actor`, `at`,
`subject` and `data`, keys sorted at every depth, no whitespace (separators "," and ":"),
non-ASCII characters written as themselves and encoded as UTF-8, e.g.

    {"actor":"alice","at":"2026-03-15T12:00:00.000000Z","data":{"n":1},"event":"request:submitted",
     "index":0,"subject":"request:42","v":1}

The bytes must come out identical after the event has gone through SQLite or PostgreSQL
(JSON or JSONB) and back, so the inputs are restricted to what every one of them keeps exactly:

- `at` is written in UTC with microseconds and `Z`. A naive datetime is taken as UTC, because
  SQLite hands back naive datetimes for what was stored as UTC; an aware datetime must be UTC
  (offset zero), because a non-UTC offset would be dropped by SQLite and read back shifted.
- `data` holds only str-keyed objects, lists, strings, integers, booleans and null. Floats are
  refused: JSONB and JSON parsers may print them differently (1.0 vs 1, exponent forms).
- Strings are kept as given (no Unicode normalisation); they must be encodable as UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from service.audit.merkle import leaf_hash

CANONICAL_VERSION = 1


def rfc3339_utc(at: datetime) -> str:
    """`at` as RFC 3339 in UTC with microseconds and `Z`, e.g. 2026-03-15T12:00:00.000000Z.

    Raises:
        ValueError: `at` is aware but not UTC.
    """
    return as_utc(at).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def as_utc(at: datetime) -> datetime:
    """`at` as an aware UTC datetime, a naive one being taken as UTC already.

    Raises:
        ValueError: `at` is aware with a non-zero UTC offset, or not a datetime.
    """
    if not isinstance(at, datetime):
        raise ValueError(f"expected a datetime, got {type(at).__name__}")
    offset = at.utcoffset()
    if offset is None:
        return at.replace(tzinfo=UTC)
    if offset != timedelta(0):
        raise ValueError(f"audit times must be UTC, got offset {offset}")
    return at.replace(tzinfo=UTC)


def canonical_event_bytes(
    index: int,
    event: str,
    actor: str,
    at: datetime,
    subject: str,
    data: Mapping[str, Any],
) -> bytes:
    """The version-1 canonical bytes of one audit event (see the module docstring).

    Raises:
        ValueError: `index` is not a non-negative int, a text field is not a str, `at` is not
            UTC, or `data` holds a float, a non-str key or a value JSON cannot carry exactly.
    """
    if type(index) is not int or index < 0:
        raise ValueError(f"index must be a non-negative int, got {index!r}")
    for name, value in (("event", event), ("actor", actor), ("subject", subject)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    if not isinstance(data, Mapping):
        raise ValueError(f"data must be a mapping, got {type(data).__name__}")
    document = {
        "v": CANONICAL_VERSION,
        "index": index,
        "event": event,
        "actor": actor,
        "at": rfc3339_utc(at),
        "subject": subject,
        "data": _plain_json(data, "data"),
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 form, so no stable bytes
        raise ValueError(f"audit event text is not valid Unicode: {exc}") from exc


def event_leaf_hash(
    index: int,
    event: str,
    actor: str,
    at: datetime,
    subject: str,
    data: Mapping[str, Any],
) -> bytes:
    """The event's Merkle leaf hash: SHA-256(0x00 || canonical bytes).

    Raises:
        ValueError: as `canonical_event_bytes`.
    """
    return leaf_hash(canonical_event_bytes(index, event, actor, at, subject, data))


def _plain_json(value: object, where: str) -> object:
    """A plain dict/list copy of `value`, refusing anything whose JSON could change in a database."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common case, fast
        return value
    # Exact dicts and lists skip the slower ABC checks below.
    if type(value) is list:
        return [_plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: _plain_json(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, str | bool | int):
        # str and int subclasses (StrEnum, IntEnum) are written by json as their plain values.
        return value
    if isinstance(value, float):
        raise ValueError(f"{where}: floats are not allowed in audit data (use int or str)")
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be str, got {type(key).__name__}")
            plain[str(key)] = _plain_json(item, f"{where}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"{where}: {type(value).__name__} is not allowed in audit data")
