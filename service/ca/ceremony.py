"""`init --hsm`: the CA keys generated inside a PKCS#11 token, and the key ceremony's record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from service.ca.authority import CaPaths, build_ca_certificates, root_type
from service.ca.hsm import TokenConfig, open_token
from service.ca.keystore import CaKeyType, write_certificate
from service.ca.token_key import TokenKey


@dataclass(frozen=True)
class CeremonyKey:
    """One key the ceremony generated: its role, where it lives, its type and fingerprint."""

    role: str
    location: str
    key_type: str
    spki_sha256: str


@dataclass(frozen=True)
class KeyCeremony:
    """What `init --hsm` made: keys in the token and the CA certificates signed with them."""

    at: datetime
    module: str
    token_label: str
    keys: tuple[CeremonyKey, ...]
    certificates: tuple[x509.Certificate, ...]

    def as_audit_data(self, actor: str) -> dict[str, Any]:
        """The `ca:key_ceremony` event's data (no PIN, nothing secret)."""
        return {
            "performed_by": actor,
            "at": self.at.isoformat(),
            "pkcs11_module": self.module,
            "token": self.token_label,
            "keys": [{"role": k.role, "location": k.location, "key_type": k.key_type,
                      "spki_sha256": k.spki_sha256} for k in self.keys],
            "certificates": [_describe(cert) for cert in self.certificates],
        }


def _describe(cert: x509.Certificate) -> dict[str, str]:
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"subject": cert.subject.rfc4514_string(), "serial_number": format(cert.serial_number, "x"),
            "sha256": hashlib.sha256(der).hexdigest(), "not_after": cert.not_valid_after_utc.isoformat()}


def init_token_ca(ca_dir: Path, key_type: CaKeyType, token: TokenConfig, now: datetime,
                  base_url: str) -> KeyCeremony | None:
    """Generate the root, issuing (and, if labelled, OCSP responder) keys in `token`; write the CA certs.

    None, with nothing touched, when any CA file exists already. The keys are sensitive and
    never extractable; a label already in the token is refused, never overwritten.

    Raises:
        CaError: a key label exists already in the token.
        TokenUnavailable: the module, token or PIN is wrong, or the token failed.
    """
    paths = CaPaths(ca_dir)
    if paths.any_exists():
        return None
    session = open_token(token)
    made: list[CeremonyKey] = []

    def generate(role: str, label: str, kind: CaKeyType) -> TokenKey:
        key = TokenKey(session, label, session.generate(label, kind))
        made.append(CeremonyKey(role, key.location, kind.value, key.fingerprint()))
        return key

    root_key = generate("root", token.root_label, root_type(key_type))
    issuing_key = generate("issuing", token.issuing_label, key_type)
    if token.ocsp_label is not None:
        generate("ocsp", token.ocsp_label, key_type)
    root, issuing = build_ca_certificates(root_key, issuing_key.public_key(), now, base_url)
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_certificate(paths.root_cert, root)
    write_certificate(paths.issuing_cert, issuing)
    return KeyCeremony(now, token.module, token.token_label, tuple(made), (root, issuing))
