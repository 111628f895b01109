"""Key-type and key-size rules: which public keys may be certified at all."""

from __future__ import annotations

from policies.config import KeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts

SUBJECT = "public_key"


def _reject(rule: str, code: str, message: str) -> Finding:
    return Finding(rule, code, message, SUBJECT, Severity.REJECT)


def key_findings(key: KeyFacts, limits: KeyLimits) -> list[Finding]:
    """Every way `key` breaks the key limits (empty when it is allowed)."""
    if key.algorithm is KeyAlgorithm.RSA:
        return _rsa_findings(key, limits)
    if key.algorithm is KeyAlgorithm.EC:
        if key.curve in limits.ec_curves:
            return []
        return [_reject("key.ec.curve", "key_type_not_allowed",
                        f"ECDSA curve {key.curve or 'with explicit parameters'} is not allowed; use one of {', '.join(limits.ec_curves)}")]
    if key.algorithm is KeyAlgorithm.ED25519 and limits.allow_ed25519:
        return []
    if key.algorithm is KeyAlgorithm.ED448 and limits.allow_ed448:
        return []
    return [_reject("key.algorithm", "key_type_not_allowed",
                    f"{key.algorithm.value} keys are not allowed; use RSA (>= {limits.rsa_min_bits} bits) or ECDSA")]


def _rsa_findings(key: KeyFacts, limits: KeyLimits) -> list[Finding]:
    findings: list[Finding] = []
    bits = key.rsa_modulus.bit_length() if key.rsa_modulus is not None else key.bits
    if bits < limits.rsa_min_bits:
        findings.append(_reject("key.rsa.size", "key_too_small", f"RSA key of {bits} bits is below the minimum of {limits.rsa_min_bits}"))
    elif bits > limits.rsa_max_bits:
        findings.append(_reject("key.rsa.size", "key_type_not_allowed", f"RSA key of {bits} bits is above the maximum of {limits.rsa_max_bits}"))
    if bits % 8:
        findings.append(_reject("key.rsa.length", "key_type_not_allowed", f"RSA modulus length {bits} is not a multiple of 8 bits"))
    if key.rsa_exponent not in limits.rsa_exponents:
        allowed = ", ".join(str(e) for e in limits.rsa_exponents)
        findings.append(_reject("key.rsa.exponent", "key_type_not_allowed", f"RSA public exponent {key.rsa_exponent} is not allowed (allowed: {allowed})"))
    return findings
