"""Canonical, versioned bytes of an audit event (temporary: replaced by the audit branch)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def canonical_event_bytes(
    index: int, event: str, actor: str, at: datetime, subject: str, data: Mapping[str, Any]
) -> bytes:
    """The bytes a leaf hashes."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    doc = {"v": 1, "index": index, "event": event, "actor": actor, "subject": subject, "data": dict(data),
           "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_leaf_hash(
    index: int, event: str, actor: str, at: datetime, subject: str, data: Mapping[str, Any]
) -> bytes:
    """RFC 6962 leaf hash of the canonical bytes."""
    return hashlib.sha256(b"\x00" + canonical_event_bytes(index, event, actor, at, subject, data)).digest()
