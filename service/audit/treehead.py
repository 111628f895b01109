"""Signed tree heads: the log key's ECDSA P-256 signature over (time, size, root).

The signed bytes are RFC 6962's TreeHeadSignature (section 3.5), so any CT-aware tool can check
them by hand:

    version          1 byte   0 (v1)
    signature_type   1 byte   1 (tree_hash)
    timestamp        8 bytes  milliseconds since the Unix epoch, big-endian
    tree_size        8 bytes  big-endian
    sha256_root_hash 32 bytes

The published JSON is `{"tree_size", "root_hash" (hex), "timestamp" (RFC 3339),
"signature" (base64 of the DER ECDSA signature), "key_id" (hex SHA-256 of the key's DER
SubjectPublicKeyInfo)}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.audit.canonical import as_utc, rfc3339_utc
from service.audit.merkle import HASH_SIZE

_VERSION_V1 = 0
_SIGNATURE_TYPE_TREE_HASH = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class TreeHead:
    """A log state: how many entries, their Merkle root, and when the log vouched for it.

    The timestamp is kept to the millisecond (finer parts are dropped on construction) because
    only milliseconds are signed: a finer published time would be unsigned and forgeable.
    A naive timestamp is taken as UTC, as in the canonical event bytes.
    """

    tree_size: int
    root_hash: bytes
    timestamp: datetime

    def __post_init__(self) -> None:
        """Check ranges and normalise the timestamp to aware UTC milliseconds.

        Raises:
            ValueError: a negative or too large size, a root that is not 32 bytes, a
                timestamp that is not UTC or is before 1970.
        """
        if type(self.tree_size) is not int or not 0 <= self.tree_size <= _UINT64_MAX:
            raise ValueError(f"tree size must be a uint64, got {self.tree_size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"root hash must be {HASH_SIZE} bytes")
        at = as_utc(self.timestamp)
        at = at.replace(microsecond=at.microsecond - at.microsecond % 1000)
        if at < _EPOCH:
            raise ValueError("tree head timestamp is before 1970")
        object.__setattr__(self, "timestamp", at)

    @property
    def timestamp_ms(self) -> int:
        """Milliseconds since the Unix epoch, as signed."""
        return (self.timestamp - _EPOCH) // _MILLISECOND


def generate_log_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 key for signing tree heads."""
    return ec.generate_private_key(ec.SECP256R1())


def tree_head_signing_input(head: TreeHead) -> bytes:
    """The 50 bytes that are signed: RFC 6962's TreeHeadSignature for `head`."""
    return (
        struct.pack(
            ">BBQQ", _VERSION_V1, _SIGNATURE_TYPE_TREE_HASH, head.timestamp_ms, head.tree_size
        )
        + head.root_hash
    )


def sign_tree_head(private_key: ec.EllipticCurvePrivateKey, head: TreeHead) -> bytes:
    """The DER ECDSA-with-SHA-256 signature of `head` by the log key.

    Raises:
        ValueError: the key is not a P-256 key.
    """
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise ValueError("the log key must be an ECDSA P-256 private key")
    return private_key.sign(tree_head_signing_input(head), ec.ECDSA(hashes.SHA256()))


def verify_tree_head(
    public_key: ec.EllipticCurvePublicKey, head: TreeHead, signature: bytes
) -> bool:
    """Whether `signature` is the log key's signature over `head`; never raises."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return False
    try:
        public_key.verify(
            bytes(signature), tree_head_signing_input(head), ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def log_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the key's DER SubjectPublicKeyInfo (the RFC 6962 LogID)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def tree_head_to_json(head: TreeHead, signature: bytes, key_id: str) -> dict[str, Any]:
    """The published form of a signed tree head (`GET /api/v1/audit/sth`)."""
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "timestamp": rfc3339_utc(head.timestamp),
        "signature": base64.b64encode(signature).decode("ascii"),
        "key_id": key_id,
    }


def tree_head_from_json(document: dict[str, Any]) -> tuple[TreeHead, bytes, str]:
    """Parse a published signed tree head into (head, signature, key_id); checks no signature.

    Raises:
        ValueError: a field is missing or malformed.
    """
    if not isinstance(document, dict):
        raise ValueError("a signed tree head must be a JSON object")
    try:
        tree_size = document["tree_size"]
        root_hex = document["root_hash"]
        timestamp = document["timestamp"]
        signature_b64 = document["signature"]
        key_id = document["key_id"]
    except KeyError as exc:
        raise ValueError(f"signed tree head lacks {exc.args[0]!r}") from exc
    if type(tree_size) is not int:
        raise ValueError("tree_size must be an integer")
    if not all(isinstance(v, str) for v in (root_hex, timestamp, signature_b64, key_id)):
        raise ValueError("root_hash, timestamp, signature and key_id must be strings")
    try:
        root = bytes.fromhex(root_hex)
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"malformed root_hash or signature: {exc}") from exc
    if not timestamp.endswith("Z"):
        raise ValueError("timestamp must be RFC 3339 UTC ending in Z")
    try:
        at = datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise ValueError(f"malformed timestamp {timestamp!r}") from exc
    return TreeHead(tree_size, root, at), signature, key_id
