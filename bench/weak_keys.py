"""Time `weak_key_findings` on real RSA moduli of 2048, 4096 and 8192 bits (µs per call)."""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import rsa

from policies.config import WeakKeyLimits
from policies.facts import KeyAlgorithm, KeyFacts
from policies.weakkeys import fermat_factors, has_roca_fingerprint, small_prime_factor, weak_key_findings

LIMITS = WeakKeyLimits()
BLOCKLIST = frozenset({"0" * 64})


def per_call_us(statement: object, repeat: int = 5) -> float:
    timer = timeit.Timer(statement)  # type: ignore[arg-type]
    number, _ = timer.autorange()
    return min(timer.repeat(repeat, number)) / number * 1e6


def main() -> None:
    started = timeit.default_timer()
    small_prime_factor(3 * 65537, LIMITS.small_prime_bound)  # builds the cached prime product once
    print(
        f"first call per bound (sieve + product of primes < {LIMITS.small_prime_bound}): "
        f"{(timeit.default_timer() - started) * 1e3:.1f} ms"
    )
    print(f"{'bits':>5} {'weak_key_findings':>18} {'small factor':>13} {'fermat':>8} {'roca':>7}   (µs per call)")
    for bits in (2048, 4096, 8192):
        n = rsa.generate_private_key(65537, bits).public_key().public_numbers().n
        facts = KeyFacts(KeyAlgorithm.RSA, bits, "f" * 64, rsa_modulus=n, rsa_exponent=65537)
        assert weak_key_findings(facts, LIMITS, BLOCKLIST) == []
        total = per_call_us(lambda f=facts: weak_key_findings(f, LIMITS, BLOCKLIST))
        small = per_call_us(lambda m=n: small_prime_factor(m, LIMITS.small_prime_bound))
        fermat = per_call_us(lambda m=n: fermat_factors(m, LIMITS.fermat_steps))
        roca = per_call_us(lambda m=n: has_roca_fingerprint(m))
        print(f"{bits:>5} {total:>18.1f} {small:>13.1f} {fermat:>8.1f} {roca:>7.1f}")


if __name__ == "__main__":
    main()
