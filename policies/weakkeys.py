"""Weak-key detectors for RSA moduli, and the SPKI blocklist for every key.

- small factor: one gcd with the product of all primes below the bound (cached per bound);
- Fermat: primes so close that a few steps up from sqrt(n) split n;
- ROCA (CVE-2017-15361): the fingerprint of Nemec et al., "The Return of Coppersmith's Attack"
  (CCS 2017): Infineon primes are k*M + (65537^a mod M), so n mod r lies in the subgroup that
  65537 generates modulo each small prime r of M. We test the same 38 primes as the authors'
  `roca-detect` tool, building each subgroup at import instead of shipping bit masks;
- blocklist: SHA-256 of the DER SubjectPublicKeyInfo, from files the operator controls.
"""

from __future__ import annotations

import functools
import math
import re

from policies.config import WeakKeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts

ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
               97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)
ROCA_GENERATOR = 65537
SUBJECT = "public_key"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _subgroup(generator: int, prime: int) -> frozenset[int]:
    members, value = set(), 1
    while value not in members:
        members.add(value)
        value = value * generator % prime
    return frozenset(members)


ROCA_SUBGROUPS: tuple[tuple[int, frozenset[int]], ...] = tuple((p, _subgroup(ROCA_GENERATOR, p)) for p in ROCA_PRIMES)


@functools.cache
def primes_below(bound: int) -> tuple[int, ...]:
    """All primes below `bound` (sieve of Eratosthenes)."""
    sieve = bytearray([1]) * max(bound, 2)
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(bound - 1) + 1 if bound > 2 else 2):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, bound, i)))
    return tuple(i for i in range(bound) if sieve[i])


@functools.cache
def _prime_product(bound: int) -> int:
    return math.prod(primes_below(bound))


def small_factor(n: int, bound: int) -> int | None:
    """A prime factor of `n` below `bound`, if any: one big gcd, then the factor itself."""
    g = math.gcd(n, _prime_product(bound) % n)
    if g == 1:
        return None
    return next(p for p in primes_below(bound) if g % p == 0)


# Quadratic residues modulo small numbers: most non-squares fail one of these cheap tests,
# so the expensive isqrt runs on few candidates.
_SQUARE_FILTERS = tuple((m, frozenset(i * i % m for i in range(m))) for m in (64, 63, 65, 11))


def _maybe_square(value: int) -> bool:
    return all(value % m in residues for m, residues in _SQUARE_FILTERS)


def fermat_factor(n: int, steps: int) -> tuple[int, int] | None:
    """(p, q) when Fermat's method splits odd `n` within `steps` steps from ceil(sqrt(n))."""
    a = math.isqrt(n)
    if a * a < n:
        a += 1
    b2 = a * a - n
    for _ in range(steps):
        if _maybe_square(b2):
            b = math.isqrt(b2)
            if b * b == b2:
                return a - b, a + b
        b2 += 2 * a + 1  # (a+1)^2 - n
        a += 1
    return None


def roca_fingerprint(n: int) -> bool:
    """True when `n` has the structure of an Infineon RSALib (ROCA-vulnerable) modulus."""
    return all(n % p in members for p, members in ROCA_SUBGROUPS)


def parse_blocklist(text: str) -> frozenset[str]:
    """Digests from a blocklist file: one hex SHA-256 per line, `#` comments, blank lines.

    Raises:
        ValueError: a line that is not a SHA-256 digest (the message names the line).
    """
    digests = set()
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip().lower()
        if not value:
            continue
        if not _DIGEST.match(value):
            raise ValueError(f"blocklist line {number}: {value[:80]!r} is not a hex SHA-256 digest")
        digests.add(value)
    return frozenset(digests)


def _weak(rule: str, message: str) -> Finding:
    return Finding(rule, "weak_key", message, SUBJECT, Severity.REJECT)


def weak_key_findings(key: KeyFacts, limits: WeakKeyLimits, blocklist: frozenset[str]) -> list[Finding]:
    """Every weak-key detector that fires on `key`."""
    findings: list[Finding] = []
    if key.spki_sha256 in blocklist:
        findings.append(_weak("key.weak.blocklist", "the public key is on the blocklist of compromised keys"))
    n = key.rsa_modulus
    if key.algorithm is not KeyAlgorithm.RSA or n is None or n < 3:
        return findings
    return findings + list(_modulus_findings(n, limits))


@functools.lru_cache(maxsize=4096)
def _modulus_findings(n: int, limits: WeakKeyLimits) -> tuple[Finding, ...]:
    """The RSA detectors, cached per modulus: the gcd costs ~0.5 ms and a dry run then a
    submission of the same CSR should pay it once."""
    findings: list[Finding] = []
    factor = small_factor(n, limits.small_prime_bound)
    if factor is not None:
        findings.append(_weak("key.weak.small_factor", f"the RSA modulus is divisible by the small prime {factor}"))
    elif fermat_factor(n, limits.fermat_steps) is not None:
        findings.append(_weak("key.weak.fermat", "the RSA modulus factors by Fermat's method: its primes are too close"))
    if limits.roca and roca_fingerprint(n):
        findings.append(_weak("key.weak.roca", "the RSA modulus has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib)"))
    return tuple(findings)
