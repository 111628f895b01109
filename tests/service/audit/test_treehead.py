"""Signed tree heads: the RFC 6962 signing layout, ECDSA P-256 signatures, the JSON form."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from service.audit.merkle import EMPTY_ROOT
from service.audit.treehead import (
    TreeHead,
    generate_log_key,
    log_key_id,
    sign_tree_head,
    tree_head_from_json,
    tree_head_signing_input,
    tree_head_to_json,
    verify_tree_head,
)

ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
WHEN = datetime(2026, 3, 15, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return generate_log_key()


def test_signing_input_is_rfc6962_tree_head_signature() -> None:
    head = TreeHead(8, ROOT, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    got = tree_head_signing_input(head)
    assert len(got) == 50
    assert got[:2] == b"\x00\x01"  # version v1, signature_type tree_hash
    assert got[2:10] == (1000).to_bytes(8, "big")
    assert got[10:18] == (8).to_bytes(8, "big")
    assert got[18:] == ROOT
    assert got == struct.pack(">BBQQ32s", 0, 1, 1000, 8, ROOT)


def test_timestamp_is_kept_to_the_signed_millisecond() -> None:
    head = TreeHead(1, ROOT, WHEN)
    assert head.timestamp == datetime(2026, 3, 15, 12, 0, 0, 123000, tzinfo=UTC)
    assert head.timestamp_ms == int(datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC).timestamp()) * 1000 + 123
    assert TreeHead(1, ROOT, WHEN.replace(tzinfo=None)) == head  # naive is UTC


@pytest.mark.parametrize(
    ("size", "root", "at"),
    [
        (-1, ROOT, WHEN),
        (2**64, ROOT, WHEN),
        (1, ROOT[:31], WHEN),
        (1, ROOT.hex(), WHEN),
        (1, ROOT, WHEN.astimezone(timezone(timedelta(hours=2)))),
        (1, ROOT, datetime(1969, 12, 31, tzinfo=UTC)),
    ],
)
def test_bad_heads_are_refused(size: int, root: bytes, at: datetime) -> None:
    with pytest.raises(ValueError):
        TreeHead(size, root, at)


def test_sign_and_verify(key: ec.EllipticCurvePrivateKey) -> None:
    head = TreeHead(8, ROOT, WHEN)
    signature = sign_tree_head(key, head)
    public = key.public_key()
    assert verify_tree_head(public, head, signature)
    # The signature is plain ECDSA-SHA256 over the 50 bytes: checkable without this module.
    public.verify(signature, tree_head_signing_input(head), ec.ECDSA(hashes.SHA256()))
    utils.decode_dss_signature(signature)  # DER


def test_any_change_breaks_the_signature(key: ec.EllipticCurvePrivateKey) -> None:
    head = TreeHead(8, ROOT, WHEN)
    signature = sign_tree_head(key, head)
    public = key.public_key()
    assert not verify_tree_head(public, TreeHead(9, ROOT, WHEN), signature)
    assert not verify_tree_head(public, TreeHead(8, EMPTY_ROOT, WHEN), signature)
    assert not verify_tree_head(public, TreeHead(8, ROOT, WHEN + timedelta(milliseconds=1)), signature)
    assert not verify_tree_head(public, head, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not verify_tree_head(public, head, b"")
    assert not verify_tree_head(public, head, b"not der at all")
    assert not verify_tree_head(generate_log_key().public_key(), head, signature)


def test_other_curves_are_refused(key: ec.EllipticCurvePrivateKey) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    head = TreeHead(1, ROOT, WHEN)
    with pytest.raises(ValueError):
        sign_tree_head(p384, head)
    forged = p384.sign(tree_head_signing_input(head), ec.ECDSA(hashes.SHA256()))
    assert not verify_tree_head(p384.public_key(), head, forged)


def test_key_id_is_sha256_of_spki(key: ec.EllipticCurvePrivateKey) -> None:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert log_key_id(key.public_key()) == hashlib.sha256(der).hexdigest()
    assert len(log_key_id(key.public_key())) == 64


def test_json_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    head = TreeHead(8, ROOT, WHEN)
    signature = sign_tree_head(key, head)
    key_id = log_key_id(key.public_key())
    document = tree_head_to_json(head, signature, key_id)
    assert document == {
        "tree_size": 8,
        "root_hash": ROOT.hex(),
        "timestamp": "2026-03-15T12:00:00.123000Z",
        "signature": base64.b64encode(signature).decode(),
        "key_id": key_id,
    }
    parsed, parsed_signature, parsed_key_id = tree_head_from_json(document)
    assert (parsed, parsed_signature, parsed_key_id) == (head, signature, key_id)
    assert verify_tree_head(key.public_key(), parsed, parsed_signature)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": "8"},
        {"tree_size": -1},
        {"root_hash": "zz"},
        {"root_hash": "00"},
        {"signature": "!!!"},
        {"timestamp": "2026-03-15T12:00:00+02:00"},
        {"timestamp": "yesterday"},
        {"key_id": None},
    ],
)
def test_malformed_json_is_refused(change: dict[str, object]) -> None:
    document = tree_head_to_json(TreeHead(8, ROOT, WHEN), b"sig", "00" * 32)
    document.update(change)
    with pytest.raises(ValueError):
        tree_head_from_json(document)


def test_missing_field_is_refused() -> None:
    document = tree_head_to_json(TreeHead(8, ROOT, WHEN), b"sig", "00" * 32)
    del document["root_hash"]
    with pytest.raises(ValueError, match="root_hash"):
        tree_head_from_json(document)
