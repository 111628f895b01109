"""Weak keys: RSA moduli with small factors, Fermat-close primes or the ROCA fingerprint, and blocklisted SPKIs."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

from policies.config import WeakKeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts
from policies.keys import SUBJECT, rsa_parameters

CODE = "weak_key"
SMALL_FACTOR_RULE = "key.weak.small_factor"
FERMAT_RULE = "key.weak.fermat"
ROCA_RULE = "key.weak.roca"
BLOCKLIST_RULE = "key.weak.blocklist"

# The shipped list; the service reads it (policies never touch files) and adds the operator's.
DEFAULT_BLOCKLIST_PATH = Path(__file__).with_name("data") / "blocklist.txt"

# ROCA (CVE-2017-15361): Infineon RSALib primes are k*M + (65537^a mod M) with M the product
# of the primes up to 167, so n mod p lies in the subgroup that 65537 generates mod p for each
# of these primes. The list and generator are those of crocs-muni/roca's detector.
ROCA_PRIMES: tuple[int, ...] = (
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
)  # fmt: skip
ROCA_GENERATOR = 65537

_DIGEST = re.compile(r"[0-9a-f]{64}")
# Squares modulo 64 and modulo 63 * 65 * 11: a cheap sieve (passes about 1 in 100 non-squares)
# before the exact isqrt; one big-number reduction per modulus.
_SQUARES_MOD_64 = frozenset(i * i % 64 for i in range(64))
_SQUARES_MOD_45045 = frozenset(i * i % 45045 for i in range(45045))


def _discrete_logs(generator: int, prime: int) -> dict[int, int]:
    """Each power of `generator` modulo `prime`, mapped to its exponent (0 .. order-1)."""
    logs: dict[int, int] = {}
    value, exponent = 1, 0
    while value not in logs:
        logs[value] = exponent
        value, exponent = value * generator % prime, exponent + 1
    return logs


_ROCA_LOGS: tuple[dict[int, int], ...] = tuple(_discrete_logs(ROCA_GENERATOR, p) for p in ROCA_PRIMES)
# roca-detect's "prints": bit r is set when r is a power of 65537 mod p.
ROCA_MASKS: tuple[int, ...] = tuple(sum(1 << r for r in logs) for logs in _ROCA_LOGS)


def _reject(rule: str, message: str) -> Finding:
    return Finding(rule=rule, code=CODE, message=message, subject=SUBJECT, severity=Severity.REJECT)


@functools.cache
def _primes_below(bound: int) -> tuple[int, ...]:
    if bound < 3:
        return ()
    sieve = bytearray([1]) * bound
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(bound - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, bound, i)))
    return tuple(i for i, flag in enumerate(sieve) if flag)


def _product(values: tuple[int, ...]) -> int:
    """Balanced product tree: far faster than a running product for thousands of factors."""
    if len(values) <= 16:
        return math.prod(values)
    middle = len(values) // 2
    return _product(values[:middle]) * _product(values[middle:])


@functools.cache
def _prime_product(bound: int) -> int:
    """The product of every prime below `bound`, computed once per bound."""
    return _product(_primes_below(bound))


def small_prime_factor(modulus: int, bound: int) -> int | None:
    """The smallest prime factor of `modulus` below `bound` (2 always counts), or None.

    One gcd with the product of all primes below the bound replaces thousands of divisions.
    """
    if modulus % 2 == 0:
        return 2
    common = math.gcd(modulus, _prime_product(bound) % modulus)
    if common == 1:
        return None
    return next(p for p in _primes_below(bound) if common % p == 0)


def _maybe_square(value: int) -> bool:
    return value & 63 in _SQUARES_MOD_64 and value % 45045 in _SQUARES_MOD_45045


def fermat_factors(modulus: int, steps: int) -> tuple[int, int] | None:
    """Two factors p <= q of `modulus` if Fermat's method finds them within `steps` steps.

    Starting from a = ceil(sqrt(n)), n = a^2 - b^2 = (a - b)(a + b) as soon as a^2 - n is a
    perfect square; that happens within few steps exactly when the primes are close.
    """
    a = math.isqrt(modulus)
    if a * a != modulus:
        a += 1
    remainder = a * a - modulus
    for _ in range(steps):
        if _maybe_square(remainder):
            b = math.isqrt(remainder)
            if b * b == remainder:
                return a - b, a + b
        remainder += 2 * a + 1
        a += 1
    return None


def _merge_congruence(residue: int, modulus: int, other: int, other_modulus: int) -> tuple[int, int] | None:
    """Combine x = residue (mod modulus) with x = other (mod other_modulus), if compatible."""
    common = math.gcd(modulus, other_modulus)
    if (other - residue) % common:
        return None
    step = other_modulus // common
    t = (other - residue) // common * pow(modulus // common, -1, step) % step
    combined = modulus * step
    return (residue + modulus * t) % combined, combined


def has_roca_fingerprint(modulus: int) -> bool:
    """Whether `modulus` has the structure of an Infineon RSALib (ROCA) key.

    The residue masks are roca-detect's original test; a modulus passing them is confirmed by
    requiring one exponent k with n = 65537^k modulo every listed prime at once (the tool's
    newer discrete-log test), which drops the masks' 1-in-2^28 false positives to 1-in-2^155.
    """
    residues = [modulus % p for p in ROCA_PRIMES]
    if not all(mask >> r & 1 for mask, r in zip(ROCA_MASKS, residues)):
        return False
    exponent, period = 0, 1
    for logs, r in zip(_ROCA_LOGS, residues):
        merged = _merge_congruence(exponent, period, logs[r], len(logs))
        if merged is None:
            return False
        exponent, period = merged
    return True


def parse_blocklist(text: str) -> frozenset[str]:
    """SPKI SHA-256 digests, one hex digest per line; `#` starts a comment, blank lines are skipped.

    Digests are compared in lowercase; upper-case hex is accepted and folded.

    Raises:
        ValueError: a line holds anything but one 64-digit hex digest (the message names the line).
    """
    digests = set()
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if not _DIGEST.fullmatch(entry):
            raise ValueError(f"blocklist line {number}: expected a hex SHA-256 digest, got {entry[:80]!r}")
        digests.add(entry)
    return frozenset(digests)


@functools.lru_cache(maxsize=4096)
def _rsa_weaknesses(modulus: int, limits: WeakKeyLimits) -> tuple[Finding, ...]:
    """Cached per modulus: the small-factor gcd costs ~1 ms, and a dry run followed by the
    submission of the same CSR (or an approval re-judging it) should pay it once."""
    findings = []
    factor = small_prime_factor(modulus, limits.small_prime_bound)
    if factor == 2:
        findings.append(_reject(SMALL_FACTOR_RULE, "RSA modulus is even"))
    elif factor is not None:
        findings.append(_reject(SMALL_FACTOR_RULE, f"RSA modulus is divisible by the small prime {factor}"))
    split = fermat_factors(modulus, limits.fermat_steps)
    if split is not None:
        gap = split[1] - split[0]
        detail = "its two factors are equal" if gap == 0 else f"its factors differ by a {gap.bit_length()}-bit number"
        findings.append(_reject(FERMAT_RULE, f"RSA modulus factors by Fermat's method: {detail}"))
    if limits.roca and has_roca_fingerprint(modulus):
        message = "RSA key has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): it can be factored"
        findings.append(_reject(ROCA_RULE, message))
    return tuple(findings)


def weak_key_findings(key: KeyFacts, limits: WeakKeyLimits, blocklist: frozenset[str]) -> list[Finding]:
    """Every weakness found: factor checks for RSA moduli, and the blocklist for every key.

    Raises:
        ValueError: RSA facts lack the modulus or exponent, or `bits` disagrees with the modulus.
    """
    findings: list[Finding] = []
    if key.algorithm is KeyAlgorithm.RSA:
        modulus, _ = rsa_parameters(key)
        findings += _rsa_weaknesses(modulus, limits)
    if key.spki_sha256.lower() in blocklist:
        findings.append(_reject(BLOCKLIST_RULE, "this public key is on the blocklist of compromised keys"))
    return findings
