"""Reproducible prime generation for the weak-key tests (Miller-Rabin; test code only)."""

from __future__ import annotations

import random

_SMALL_PRIMES = tuple(p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))


def is_probable_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin with fixed pseudo-random bases: wrong with probability below 4^-24."""
    if n < 2:
        return False
    for p in (2, *_SMALL_PRIMES):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    bases = random.Random(n)
    for _ in range(rounds):
        x = pow(bases.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    """The smallest prime above `n`."""
    candidate = n + 1 if n % 2 == 0 else n + 2
    while not is_probable_prime(candidate):
        candidate += 2
    return candidate


def random_prime(bits: int, rng: random.Random) -> int:
    """A prime of exactly `bits` bits whose two top bits are set (so p*q has 2*bits bits)."""
    while True:
        start = rng.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        prime = next_prime(start - 2)
        if prime.bit_length() == bits:
            return prime
