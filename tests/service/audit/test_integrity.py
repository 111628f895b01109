"""Whole-log verification: an intact log passes, and each kind of tampering is named."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.audit.canonical import event_leaf_hash
from service.audit.integrity import EntryRecord, LogCheck, StoredHead, check_log
from service.audit.merkle import MerkleTree
from service.audit.treehead import TreeHead, generate_log_key, sign_tree_head

T0 = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
EVENTS = ["request:submitted", "certificate:issued", "exception:opened", "exception:approved"]


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return generate_log_key()


def make_entry(index: int, **fields: object) -> EntryRecord:
    values: dict[str, object] = {
        "index": index,
        "event": EVENTS[index % len(EVENTS)],
        "actor": f"user{index % 3}",
        "at": T0 + timedelta(seconds=index),
        "subject": f"request:{index // 2}",
        "data": {"n": index, "ips": [f"192.0.2.{index % 250}"]},
    }
    values.update(fields)
    leaf = event_leaf_hash(**values)  # type: ignore[arg-type]
    return EntryRecord(leaf_hash=leaf.hex(), **values)  # type: ignore[arg-type]


def make_log(
    n: int, key: ec.EllipticCurvePrivateKey, head_sizes: tuple[int, ...]
) -> tuple[list[EntryRecord], list[StoredHead]]:
    entries = [make_entry(i) for i in range(n)]
    tree = MerkleTree(bytes.fromhex(e.leaf_hash) for e in entries)
    heads = []
    for size in head_sizes:
        head = TreeHead(size, tree.root(size), T0 + timedelta(minutes=size))
        heads.append(StoredHead(size, head.root_hash.hex(), head.timestamp, sign_tree_head(key, head)))
    return entries, heads


def rehashed(entry: EntryRecord, **changes: object) -> EntryRecord:
    """The row edited *and* its stored leaf hash recomputed to match: a careful forger."""
    edited = dataclasses.replace(entry, **changes)  # type: ignore[arg-type]
    leaf = event_leaf_hash(
        edited.index, edited.event, edited.actor, edited.at, edited.subject, edited.data
    )
    return dataclasses.replace(edited, leaf_hash=leaf.hex())


def check(
    entries: list[EntryRecord], heads: list[StoredHead], key: ec.EllipticCurvePrivateKey
) -> LogCheck:
    return check_log(iter(entries), iter(heads), key.public_key())


def test_intact_log_passes(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (0, 1, 8, 17, 17, 32, 40))
    result = check(entries, list(reversed(heads)), key)  # heads in any order
    assert result == LogCheck(ok=True, tree_size=40, signed_tree_size=40)


def test_empty_log_passes(key: ec.EllipticCurvePrivateKey) -> None:
    _, heads = make_log(0, key, (0,))
    assert check([], heads, key) == LogCheck(ok=True, tree_size=0)


def test_entries_beyond_the_last_head_are_reported_as_unsigned(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (16,))
    result = check(entries, heads, key)
    assert result.ok and result.tree_size == 40 and result.signed_tree_size == 16


def test_edited_field_is_caught_at_its_row(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    entries[23] = dataclasses.replace(entries[23], actor="mallory")
    result = check(entries, heads, key)
    assert not result.ok
    assert result.first_bad_index == 23
    assert result.tree_size == 40
    assert "edited" in (result.problem or "")


@pytest.mark.parametrize(
    "change",
    [{"data": {"n": 5, "ips": ["203.0.113.9"]}}, {"at": T0}, {"event": "request:rejected"},
     {"subject": "request:999"}, {"leaf_hash": "00" * 32}, {"leaf_hash": "not hex"}],
)  # fmt: skip
def test_every_kind_of_edit_is_caught(key: ec.EllipticCurvePrivateKey, change: dict[str, object]) -> None:
    entries, heads = make_log(10, key, ())
    entries[5] = dataclasses.replace(entries[5], **change)  # type: ignore[arg-type]
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index) == (False, 5)


def test_deleted_entry_is_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    del entries[12]
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index, result.tree_size) == (False, 12, 39)
    assert "missing" in (result.problem or "")


def test_deleted_tail_is_caught_by_the_signed_head(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (8, 40))
    result = check(entries[:35], heads, key)
    assert (result.ok, result.first_bad_index, result.signed_tree_size) == (False, 35, 8)
    assert "deleted" in (result.problem or "")


def test_inserted_entry_is_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    entries.insert(20, make_entry(20, actor="mallory"))  # a second, well-hashed row 20
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index) == (False, 20)
    assert "appears again" in (result.problem or "")


def test_inserted_and_renumbered_entries_are_caught_by_the_signed_head(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    entries, heads = make_log(40, key, (16, 40))
    # A forger inserts at 20, renumbers everything after it and rehashes every moved row.
    forged = make_entry(20, actor="mallory")
    tail = [rehashed(e, index=e.index + 1) for e in entries[20:]]
    tampered = entries[:20] + [forged] + tail[:-1]  # drop one so the size still says 40
    result = check(tampered, heads, key)
    assert (result.ok, result.first_bad_index, result.signed_tree_size) == (False, 16, 16)
    assert "root" in (result.problem or "")


def test_swapped_entries_are_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    entries[10], entries[11] = entries[11], entries[10]
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index) == (False, 10)


def test_swapped_contents_with_indexes_kept_are_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    a, b = entries[10], entries[11]
    entries[10] = dataclasses.replace(b, index=10)
    entries[11] = dataclasses.replace(a, index=11)
    assert check(entries, heads, key).first_bad_index == 10


def test_edit_with_recomputed_leaf_hash_is_caught_by_the_signed_head(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    entries, heads = make_log(40, key, (8, 17, 32, 40))
    entries[20] = rehashed(entries[20], actor="mallory", data={"n": 20, "ips": ["203.0.113.1"]})
    result = check(entries, heads, key)
    assert not result.ok
    # Heads at 8 and 17 still hold; the one at 32 does not: the edit is in 17..31.
    assert (result.first_bad_index, result.signed_tree_size) == (17, 17)
    assert "altered" in (result.problem or "")


def test_edit_with_recomputed_hash_and_no_head_covering_it_goes_unseen(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    # The limit of the design, pinned so that nobody believes otherwise: only signed heads
    # protect against a forger who rewrites leaf hashes.
    entries, heads = make_log(40, key, (16,))
    entries[30] = rehashed(entries[30], actor="mallory")
    result = check(entries, heads, key)
    assert result.ok and result.signed_tree_size == 16


def test_bad_signature_is_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (8, 40))
    signature = bytearray(heads[1].signature)
    signature[-1] ^= 1
    heads[1] = dataclasses.replace(heads[1], signature=bytes(signature))
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index, result.signed_tree_size) == (False, None, 8)
    assert "signature" in (result.problem or "")


def test_head_signed_by_another_key_is_caught(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(40, key, (40,))
    assert not check_log(entries, heads, generate_log_key().public_key()).ok


def test_forged_head_over_edited_log_is_caught(key: ec.EllipticCurvePrivateKey) -> None:
    # The forger edits a row, rehashes it, and rewrites the stored root, but cannot re-sign.
    entries, heads = make_log(40, key, (40,))
    entries[3] = rehashed(entries[3], actor="mallory")
    new_root = MerkleTree(bytes.fromhex(e.leaf_hash) for e in entries).root()
    heads[0] = dataclasses.replace(heads[0], root_hash=new_root.hex())
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index) == (False, None)
    assert "signature" in (result.problem or "")


def test_malformed_stored_head_is_reported(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(10, key, (10,))
    heads[0] = dataclasses.replace(heads[0], root_hash="xyz")
    result = check(entries, heads, key)
    assert (result.ok, result.first_bad_index) == (False, None)
    assert "malformed" in (result.problem or "")


def test_entries_are_streamed_once(key: ec.EllipticCurvePrivateKey) -> None:
    entries, heads = make_log(30, key, (30,))
    consumed: list[int] = []

    def stream() -> Iterator[EntryRecord]:
        for entry in entries:
            consumed.append(entry.index)
            yield entry

    assert check_log(stream(), heads, key.public_key()).ok
    assert consumed == list(range(30))
