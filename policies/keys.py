"""Key strength: which algorithms, RSA sizes and exponents, and EC curves may be certified."""

from __future__ import annotations

from policies.config import KeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts

SUBJECT = "public_key"
TOO_SMALL = "key_too_small"
NOT_ALLOWED = "key_type_not_allowed"

# The curve values the service uses when the SPKI carries parameters instead of a named curve.
_EXPLICIT_CURVES = frozenset({"explicit"})

_REFUSALS = {
    KeyAlgorithm.DSA: "DSA keys are not allowed",
    KeyAlgorithm.OTHER: "this public-key algorithm is not allowed",
    KeyAlgorithm.ED25519: "Ed25519 keys are not allowed by this policy",
    KeyAlgorithm.ED448: "Ed448 keys are not allowed by this policy",
}


def _reject(rule: str, code: str, message: str) -> Finding:
    return Finding(rule=rule, code=code, message=message, subject=SUBJECT, severity=Severity.REJECT)


def _allowed_list(values: tuple[object, ...]) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def rsa_parameters(key: KeyFacts) -> tuple[int, int]:
    """The modulus and exponent of RSA facts, checked against the stated size.

    The size rules use the modulus' real bit length, so a wrong `bits` would be a service bug
    rather than something a requester controls: refuse to judge such facts at all.

    Raises:
        ValueError: the facts are not RSA, lack the modulus or exponent, or `bits` disagrees
            with the modulus' bit length.
    """
    if key.algorithm is not KeyAlgorithm.RSA:
        raise ValueError(f"not an RSA key: {key.algorithm}")
    if key.rsa_modulus is None or key.rsa_exponent is None:
        raise ValueError("RSA key facts need rsa_modulus and rsa_exponent")
    modulus = key.rsa_modulus
    if modulus < 1:
        raise ValueError("RSA modulus must be positive")
    if key.bits != modulus.bit_length():
        raise ValueError(f"RSA key facts say {key.bits} bits but the modulus has {modulus.bit_length()}")
    return modulus, key.rsa_exponent


def _rsa_findings(key: KeyFacts, limits: KeyLimits) -> list[Finding]:
    modulus, exponent = rsa_parameters(key)
    bits = modulus.bit_length()
    findings = []
    if bits < limits.rsa_min_bits:
        findings.append(
            _reject("key.rsa.size", TOO_SMALL, f"RSA key has {bits} bits; at least {limits.rsa_min_bits} are required")
        )
    elif bits > limits.rsa_max_bits:
        # Not "too small" and not weak: the contract files oversized keys under key_type_not_allowed.
        findings.append(
            _reject(
                "key.rsa.size",
                NOT_ALLOWED,
                f"RSA key has {bits} bits; keys above {limits.rsa_max_bits} bits are not accepted",
            )
        )
    if bits % 8:
        findings.append(
            _reject(
                "key.rsa.modulus_length",
                NOT_ALLOWED,
                f"RSA modulus length must be a multiple of 8 bits; this one has {bits}",
            )
        )
    if exponent not in limits.rsa_exponents:
        findings.append(
            _reject(
                "key.rsa.exponent",
                NOT_ALLOWED,
                f"RSA public exponent {exponent} is not allowed; allowed: {_allowed_list(limits.rsa_exponents)}",
            )
        )
    return findings


def _ec_findings(key: KeyFacts, limits: KeyLimits) -> list[Finding]:
    allowed = _allowed_list(limits.ec_curves)
    if key.curve is None or key.curve in _EXPLICIT_CURVES:
        message = f"EC keys must name their curve; explicit curve parameters are not allowed (allowed: {allowed})"
        return [_reject("key.ec.curve", NOT_ALLOWED, message)]
    if key.curve not in limits.ec_curves:
        return [_reject("key.ec.curve", NOT_ALLOWED, f"EC curve {key.curve} is not allowed; allowed: {allowed}")]
    return []


def key_findings(key: KeyFacts, limits: KeyLimits) -> list[Finding]:
    """Every way in which the key breaks the policy's algorithm, size, exponent and curve limits.

    All violations are reported, not only the first, so a requester can fix them in one go.

    Raises:
        ValueError: RSA facts lack the modulus or exponent, or `bits` disagrees with the modulus.
    """
    if key.algorithm is KeyAlgorithm.RSA:
        return _rsa_findings(key, limits)
    if key.algorithm is KeyAlgorithm.EC:
        return _ec_findings(key, limits)
    if key.algorithm is KeyAlgorithm.ED25519 and limits.allow_ed25519:
        return []
    if key.algorithm is KeyAlgorithm.ED448 and limits.allow_ed448:
        return []
    refusal = _REFUSALS.get(key.algorithm, f"{key.algorithm} keys are not allowed")
    message = (
        f"{refusal}; use RSA ({limits.rsa_min_bits}-{limits.rsa_max_bits} bits) "
        f"or ECDSA ({_allowed_list(limits.ec_curves)})"
    )
    return [_reject("key.algorithm", NOT_ALLOWED, message)]
