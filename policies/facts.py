"""Plain facts about a certificate request, extracted by the service before any rule runs.

Rules never see a CSR object: the service turns bytes into these values first, so the policy
stays pure and testable with hand-written facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeyAlgorithm(StrEnum):
    """The public-key algorithm named by the CSR's SubjectPublicKeyInfo."""

    RSA = "rsa"
    EC = "ec"
    ED25519 = "ed25519"
    ED448 = "ed448"
    DSA = "dsa"
    OTHER = "other"


@dataclass(frozen=True)
class KeyFacts:
    """What the policy needs to know about a subject public key.

    `curve` uses the SEC names (`secp256r1`, `secp384r1`, `secp521r1`); `spki_sha256` is the
    lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (the blocklist's identifier).
    """

    algorithm: KeyAlgorithm
    bits: int
    spki_sha256: str
    rsa_modulus: int | None = None
    rsa_exponent: int | None = None
    curve: str | None = None


@dataclass(frozen=True)
class RequestFacts:
    """Everything a decision depends on, taken from a verified CSR and the submission.

    `ip_addresses` are the SAN iPAddress entries as text; the engine itself finds IP literals
    hiding in `common_name` and `dns_names`.
    """

    key: KeyFacts
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    csr_sha256: str
    requested_validity_days: int | None = None
