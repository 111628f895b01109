"""The policy file (TOML) turned into limits, and its version digest.

Parsing is pure: callers hand in the file's bytes; reading the file is the service's job.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.public_ip import AddressRule

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.toml")


class PolicyFileError(ValueError):
    """The policy file is not valid TOML or holds a value outside its allowed range."""


@dataclass(frozen=True)
class KeyLimits:
    """Which keys may be certified."""

    rsa_min_bits: int = 2048
    rsa_max_bits: int = 8192
    rsa_exponents: tuple[int, ...] = (65537,)
    ec_curves: tuple[str, ...] = ("secp256r1", "secp384r1", "secp521r1")
    allow_ed25519: bool = False
    allow_ed448: bool = False


@dataclass(frozen=True)
class WeakKeyLimits:
    """How hard the weak-key detectors look."""

    small_prime_bound: int = 65536
    fermat_steps: int = 100
    roca: bool = True
    blocklist_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewLimits:
    """The exception (review) process: approvals needed, time to live, longest grant."""

    approvals_required: int = 1
    ttl_days: int = 14
    max_grant_days: int = 365


@dataclass(frozen=True)
class NameLimits:
    """DNS names: how many a certificate may carry, CAA, and an operator's own suffix list."""

    max_names: int = 100
    allow_internal: bool = False
    caa_enabled: bool = False
    caa_identities: tuple[str, ...] = ()
    public_suffix_file: str = ""


@dataclass(frozen=True)
class Policy:
    """All limits from one policy file, plus the digest that identifies it."""

    version: str
    keys: KeyLimits = field(default_factory=KeyLimits)
    weak_keys: WeakKeyLimits = field(default_factory=WeakKeyLimits)
    default_validity_days: int = 90
    max_validity_days: int = 200
    organization: str = ""
    country: str = ""
    state_or_province: str = ""
    locality: str = ""
    allow_client_auth: bool = True
    lint_enabled: bool = True
    reviews: ReviewLimits = field(default_factory=ReviewLimits)
    names: NameLimits = field(default_factory=NameLimits)
    crl_next_update_hours: int = 24
    crl_refresh_before_hours: int = 6
    ocsp_validity_hours: int = 24
    address_rule: AddressRule = AddressRule.BASELINE_REQUIREMENTS
    acme_require_eab: bool = True
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def policy_version(data: bytes) -> str:
    """The version of a policy: the SHA-256 of the file's bytes, as `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise PolicyFileError(f"[{name}] must be a table")
    return value


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PolicyFileError(f"{name} must be a positive integer")
    return value


def policy_bound(weak: dict[str, Any]) -> int:
    """The small-prime bound, bounded itself: the cached prime product grows with it."""
    return _positive(weak.get("small_prime_bound", 65536), "weak_keys.small_prime_bound")


def _address_rule(addresses: dict[str, Any]) -> AddressRule:
    value = addresses.get("rule", AddressRule.BASELINE_REQUIREMENTS.value)
    try:
        return AddressRule(value)
    except ValueError:
        allowed = ", ".join(f'"{r.value}"' for r in AddressRule)
        raise PolicyFileError(f"addresses.rule must be one of {allowed}") from None
def _name_limits(names: dict[str, Any], caa: dict[str, Any]) -> NameLimits:
    identities = caa.get("identities", [])
    if not isinstance(identities, list) or not all(isinstance(i, str) and i.strip() for i in identities):
        raise PolicyFileError("caa.identities must be a list of domain names")
    limits = NameLimits(
        max_names=_positive(names.get("max_names", 100), "names.max_names"),
        allow_internal=bool(names.get("allow_internal", False)),
        caa_enabled=bool(caa.get("enabled", False)),
        caa_identities=tuple(i.strip().lower().rstrip(".") for i in identities),
        public_suffix_file=str(names.get("public_suffix_file", "")),
    )
    if limits.caa_enabled and not limits.caa_identities:
        raise PolicyFileError("caa.enabled needs caa.identities: the domains CAA records name this CA by")
    return limits


def parse_policy(data: bytes) -> Policy:
    """Parse a policy file's bytes into a `Policy`.

    Raises:
        PolicyFileError: the bytes are not TOML or a value is out of range.
    """
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(f"policy file is not valid TOML: {exc}") from exc
    keys = _section(doc, "keys")
    weak = _section(doc, "weak_keys")
    validity = _section(doc, "validity")
    subject = _section(doc, "subject")
    reviews = _section(doc, "exceptions")
    key_limits = KeyLimits(
        rsa_min_bits=_positive(keys.get("rsa_min_bits", 2048), "keys.rsa_min_bits"),
        rsa_max_bits=_positive(keys.get("rsa_max_bits", 8192), "keys.rsa_max_bits"),
        rsa_exponents=tuple(int(e) for e in keys.get("rsa_exponents", [65537])),
        ec_curves=tuple(str(c) for c in keys.get("ec_curves", KeyLimits.ec_curves)),
        allow_ed25519=bool(keys.get("allow_ed25519", False)),
        allow_ed448=bool(keys.get("allow_ed448", False)),
    )
    if not 2 <= policy_bound(weak) <= 1 << 24:
        raise PolicyFileError("weak_keys.small_prime_bound must be between 2 and 16777216")
    if key_limits.rsa_min_bits < 2048:
        raise PolicyFileError("keys.rsa_min_bits may not go below 2048")
    policy = Policy(
        version=policy_version(data),
        keys=key_limits,
        weak_keys=WeakKeyLimits(
            small_prime_bound=_positive(weak.get("small_prime_bound", 65536), "weak_keys.small_prime_bound"),
            fermat_steps=_positive(weak.get("fermat_steps", 100), "weak_keys.fermat_steps"),
            roca=bool(weak.get("roca", True)),
            blocklist_files=tuple(str(p) for p in weak.get("blocklist_files", [])),
        ),
        default_validity_days=_positive(validity.get("default_days", 90), "validity.default_days"),
        max_validity_days=_positive(validity.get("max_days", 200), "validity.max_days"),
        organization=str(subject.get("organization", "")),
        country=str(subject.get("country", "")),
        state_or_province=str(subject.get("state_or_province", "")),
        locality=str(subject.get("locality", "")),
        allow_client_auth=bool(_section(doc, "issuance").get("allow_client_auth", True)),
        lint_enabled=bool(_section(doc, "lint").get("enabled", True)),
        reviews=ReviewLimits(
            approvals_required=_positive(reviews.get("approvals_required", 1), "exceptions.approvals_required"),
            ttl_days=_positive(reviews.get("ttl_days", 14), "exceptions.ttl_days"),
            max_grant_days=_positive(reviews.get("max_grant_days", 365), "exceptions.max_grant_days"),
        ),
        names=_name_limits(_section(doc, "names"), _section(doc, "caa")),
        crl_next_update_hours=_positive(_section(doc, "crl").get("next_update_hours", 24), "crl.next_update_hours"),
        crl_refresh_before_hours=_positive(
            _section(doc, "crl").get("refresh_before_hours", 6), "crl.refresh_before_hours"
        ),
        ocsp_validity_hours=_positive(_section(doc, "ocsp").get("validity_hours", 24), "ocsp.validity_hours"),
        address_rule=_address_rule(_section(doc, "addresses")),
        acme_require_eab=bool(_section(doc, "acme").get("require_eab", True)),
        raw=doc,
    )
    if policy.organization and not (policy.country and (policy.state_or_province or policy.locality)):
        raise PolicyFileError("subject.organization (OV) needs subject.country and a state_or_province or locality")
    if policy.default_validity_days > policy.max_validity_days:
        raise PolicyFileError("validity.default_days exceeds validity.max_days")
    return policy
