"""Weak-key detectors on facts: small factors, Fermat-close primes, ROCA, and the SPKI blocklist."""

from __future__ import annotations

import math
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from policies.config import WeakKeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts
from policies.weakkeys import (
    DEFAULT_BLOCKLIST_PATH,
    ROCA_GENERATOR,
    ROCA_MASKS,
    ROCA_PRIMES,
    fermat_factors,
    has_roca_fingerprint,
    parse_blocklist,
    small_prime_factor,
    weak_key_findings,
)
from tests.policies.keyfacts import facts_of, rsa_facts, spki_sha256
from tests.policies.primes import is_probable_prime, next_prime, random_prime

DEFAULT = WeakKeyLimits()
NO_BLOCKLIST: frozenset[str] = frozenset()

# roca-detect's published masks ("prints"), crocs-muni/roca roca/detect.py, for ROCA_PRIMES.
PUBLISHED_PRINTS = (
    6, 30, 126, 1026, 5658, 107286, 199410, 8388606, 536870910, 2147483646, 67109890,
    2199023255550, 8796093022206, 140737488355326, 5310023542746834, 576460752303423486,
    1455791217086302986, 147573952589676412926, 20052041432995567486, 6041388139249378920330,
    207530445072488465666, 9671406556917033397649406, 618970019642690137449562110,
    79228162521181866724264247298, 2535301200456458802993406410750,
    1760368345969468176824550810518, 50079290986288516948354744811034,
    473022961816146413042658758988474, 10384593717069655257060992658440190,
    144390480366845522447407333004847678774, 2722258935367507707706996859454145691646,
    174224571863520493293247799005065324265470, 696898287454081973172991196020261297061886,
    713623846352979940529142984724747568191373310, 1800793591454480341970779146165214289059119882,
    126304807362733370595828809000324029340048915994,
    11692013098647223345629478661730264157247460343806,
    187072209578355573530071658587684226515959365500926,
)  # fmt: skip

# A real ROCA-affected 2048-bit modulus: roca/tests/data/mod03.txt in crocs-muni/roca (a positive sample).
ROCA_SAMPLE = int(
    "9dcd7420e420c270a68060eb8b5aa7457a9f6648f86fafed2775cc1f79ae962f1e63f1b9e51c55f9ea6fdc7332e9b005"
    "8c9ff2eb1fc89855029cf6aafe21e689feb38ac9ffb12f1ce371bb5d0e9aae64161abce74b4244bf68f1edb4411f756a"
    "097c8929c14740245ea355f8332d1aa36bb50c7dcb4505da8de02e4e53d38f8df06097da7524df0df93db48eac8cc4af"
    "2d3a16257eb2b2adca6ba464e5974fa92550d31b1babf161e7692d00b86e3dd886ecab4abfbe1a8f8cc263ff4af55cdb"
    "45f4249a5193925f5e983d762f0b6800943eb0267b08f42ed311ce1f5c86eacbc8ce4d3cb7a2fee1ef5641423a1cf411"
    "4e5ecf50034a60a412523af9e6f4aa11",
    16,
)
# crocs-muni/roca roca/tests/test_fingerprint.py, test_fake_mods: passes the masks but is not an
# RSALib modulus (no single exponent explains all residues); the tool's dlog test clears it.
ROCA_MASK_ONLY = int(
    "72414128973967872688332736535017614208620368242015797102796086827882754006260204061799547004983731"
    "42677759644565888988686102704503376001494804806746794796031820545377897397586753291048922797014309"
    "11847257602901729358727522223203341000977304836008926863537198553973813163842441478602601531986113"
    "13067061116317"
)

# RFC 9500's P-256 test key: a published private key, so it is on the shipped blocklist.
RFC9500_P256 = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5stb3YCqRa6clejB
VHZnn/7JU8FoUecR50OTlYnGT8GhRANCAARCJUj4j7eC/7Xso3REUscqHlWPvW9z
vl5I6TIyzEXFsWxM0QxMuNW4oXE56UiCyJklcpk0JfQUGat+kKQqSUJy
-----END PRIVATE KEY-----
"""
# RFC 9500's 2048-bit RSA test key (public half).
RFC9500_RSA2048 = b"""-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAsPnoGUOnrpiSqt4XynxA+HRP7S+BSObI6qJ7fQAVSPtRkqsotWxQ
YLEYzNEx5ZSHTGypibVsJylvCfuToDTfMul8b/CZjP2Ob0LdpYrNH6l5hvFE89FU
1nZQF15oVLOpUgA7wGiHuEVawrGfey92UE68mOyUVXGweJIVDdxqdMoPvNNUl86B
U02vlBiESxOuox+dWmuVV7vfYZ79Toh/LUK43YvJh+rhv4nKuF7iHjVjBd9sB6iD
jj70HFldzOQ9r8SRI+9NirupPTkF5AKNe6kUhKJ1luB7S27ZkvB3tSTT3P593VVJ
vnzOjaA1z6Cz+4+eRvcysqhrRgFlwI9TEwIDAQAB
-----END RSA PUBLIC KEY-----
"""


def _rules(findings: list[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def _real_modulus(bits: int) -> int:
    return rsa.generate_private_key(65537, bits).public_key().public_numbers().n


@pytest.fixture(scope="module")
def real_moduli() -> list[int]:
    """Moduli of freshly generated 2048-bit keys: none of the detectors may fire on them."""
    return [_real_modulus(2048) for _ in range(6)]


# --- clean keys -----------------------------------------------------------------------------


def test_real_keys_are_clean(real_moduli: list[int]) -> None:
    for modulus in real_moduli:
        assert weak_key_findings(rsa_facts(modulus), DEFAULT, NO_BLOCKLIST) == []


def test_real_keys_have_no_roca_residues(real_moduli: list[int]) -> None:
    # Stronger than the verdict: not even the cheap residue masks match a random modulus.
    for modulus in real_moduli:
        assert not all(mask >> (modulus % p) & 1 for p, mask in zip(ROCA_PRIMES, ROCA_MASKS))


# --- small prime factors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "cofactor_bits", "expected"),
    [
        (3, 2046, "3"),
        (65521, 2032, "65521"),  # the largest prime below the default bound of 65536
        (3 * 65521, 2032, "3"),  # the smallest factor is the one reported
    ],
)
def test_small_prime_factor_is_found_and_named(factor: int, cofactor_bits: int, expected: str) -> None:
    modulus = factor * _real_modulus(cofactor_bits)
    findings = weak_key_findings(rsa_facts(modulus), DEFAULT, NO_BLOCKLIST)
    assert _rules(findings) == ["key.weak.small_factor"]
    assert findings[0].message.endswith(f"small prime {expected}")
    assert (findings[0].code, findings[0].severity, findings[0].subject) == ("weak_key", Severity.REJECT, "public_key")


def test_even_modulus_is_refused() -> None:
    (finding,) = weak_key_findings(rsa_facts(2 * _real_modulus(2046)), DEFAULT, NO_BLOCKLIST)
    assert (finding.rule, finding.message) == ("key.weak.small_factor", "RSA modulus is even")


def test_even_modulus_is_refused_whatever_the_bound() -> None:
    assert small_prime_factor(2 * 65537 * 65539, bound=2) == 2


def test_factor_at_the_bound_is_outside_it() -> None:
    modulus = 65537 * _real_modulus(2032)  # 65537 is prime and not below 65536
    assert weak_key_findings(rsa_facts(modulus), DEFAULT, NO_BLOCKLIST) == []
    assert small_prime_factor(modulus, bound=65538) == 65537


def test_small_prime_factor_agrees_with_trial_division() -> None:
    rng = random.Random(7)
    for _ in range(200):
        candidate = rng.getrandbits(64) | 1
        expected = next((d for d in range(3, 1000, 2) if candidate % d == 0 and is_probable_prime(d)), None)
        assert small_prime_factor(candidate, bound=1000) == expected


# --- Fermat --------------------------------------------------------------------------------------


def test_close_primes_are_found_by_fermat() -> None:
    p = random_prime(1024, random.Random(1))
    q = next_prime(p)
    findings = weak_key_findings(rsa_facts(p * q), DEFAULT, NO_BLOCKLIST)
    assert _rules(findings) == ["key.weak.fermat"]
    assert fermat_factors(p * q, 1) == (p, q)


def test_primes_a_few_steps_apart_need_that_many_steps() -> None:
    # With p, q = a - b, a + b the method succeeds at a, i.e. after a - ceil(sqrt(n)) steps.
    rng = random.Random(2)
    p = random_prime(1024, rng)
    q = next_prime(p + (1 << 516))  # (q - p)^2 / (8 sqrt(n)) is about 32 steps
    a = (p + q) // 2
    needed = a - math.isqrt(p * q - 1) - 1  # a - ceil(sqrt(n))
    assert 0 < needed < 50
    assert fermat_factors(p * q, needed) is None
    assert fermat_factors(p * q, needed + 1) == (p, q)
    assert weak_key_findings(rsa_facts(p * q), WeakKeyLimits(fermat_steps=needed), NO_BLOCKLIST) == []
    assert _rules(weak_key_findings(rsa_facts(p * q), DEFAULT, NO_BLOCKLIST)) == ["key.weak.fermat"]


def test_square_modulus_is_found_by_fermat() -> None:
    p = random_prime(1024, random.Random(3))
    (finding,) = weak_key_findings(rsa_facts(p * p), DEFAULT, NO_BLOCKLIST)
    assert finding.rule == "key.weak.fermat" and "equal" in finding.message


# --- ROCA ----------------------------------------------------------------------------------------


def test_masks_equal_the_published_prints() -> None:
    assert ROCA_MASKS == PUBLISHED_PRINTS


def test_masks_are_the_powers_of_65537() -> None:
    for p, mask in zip(ROCA_PRIMES, ROCA_MASKS):
        powers = {pow(ROCA_GENERATOR, k, p) for k in range(p - 1)}
        assert {r for r in range(p) if mask >> r & 1} == powers


def test_published_roca_sample_is_detected() -> None:
    (finding,) = weak_key_findings(rsa_facts(ROCA_SAMPLE), DEFAULT, NO_BLOCKLIST)
    assert finding.rule == "key.weak.roca" and "CVE-2017-15361" in finding.message


def test_mask_only_lookalike_is_not_roca() -> None:
    assert all(mask >> (ROCA_MASK_ONLY % p) & 1 for p, mask in zip(ROCA_PRIMES, PUBLISHED_PRINTS))
    assert not has_roca_fingerprint(ROCA_MASK_ONLY)


def _roca_prime(bits: int, rng: random.Random) -> int:
    """A prime shaped like Infineon RSALib's: k*M + (65537^a mod M), M the primorial up to 167."""
    m = math.prod((2, *ROCA_PRIMES))
    while True:
        # Keep the candidate in [3 * 2^(bits-2), 2^bits) so that two of them multiply to 2*bits bits.
        k = rng.randrange(-((-3 << (bits - 2)) // m), (1 << bits) // m)
        candidate = k * m + pow(ROCA_GENERATOR, rng.randrange(1, 1 << 62), m)
        if candidate >> (bits - 2) == 0b11 and is_probable_prime(candidate):
            return candidate


@pytest.fixture(scope="module")
def roca_primes() -> tuple[int, int]:
    rng = random.Random(15361)
    return _roca_prime(1024, rng), _roca_prime(1024, rng)


def test_constructed_roca_modulus_is_detected(roca_primes: tuple[int, int]) -> None:
    p, q = roca_primes
    assert (p * q).bit_length() == 2048
    findings = weak_key_findings(rsa_facts(p * q), DEFAULT, NO_BLOCKLIST)
    assert _rules(findings) == ["key.weak.roca"]
    assert has_roca_fingerprint(p) and has_roca_fingerprint(q)


def test_roca_check_can_be_turned_off(roca_primes: tuple[int, int]) -> None:
    p, q = roca_primes
    assert weak_key_findings(rsa_facts(p * q), WeakKeyLimits(roca=False), NO_BLOCKLIST) == []


@pytest.mark.parametrize("prime", ROCA_PRIMES)
def test_every_listed_prime_matters(roca_primes: tuple[int, int], prime: int) -> None:
    # Move n to a residue outside 65537's subgroup mod `prime` and keep it mod every other prime.
    n = roca_primes[0] * roca_primes[1]
    m = math.prod((2, *ROCA_PRIMES))
    others = m // prime
    # 0 is never a power; prefer a non-zero residue where 65537 does not generate the whole group.
    outside = next(r for r in [*range(1, prime), 0] if not ROCA_MASKS[ROCA_PRIMES.index(prime)] >> r & 1)
    shift = (outside - n) * pow(others, -1, prime) % prime
    moved = n + others * shift
    assert moved % prime == outside and all(moved % p == n % p for p in ROCA_PRIMES if p != prime)
    assert not has_roca_fingerprint(moved)


# --- blocklist -----------------------------------------------------------------------------------


def test_blocklisted_rsa_key_is_refused_and_other_detectors_still_run() -> None:
    facts = facts_of(rsa.generate_private_key(65537, 2048).public_key())
    findings = weak_key_findings(facts, DEFAULT, frozenset({facts.spki_sha256}))
    assert _rules(findings) == ["key.weak.blocklist"]
    assert findings[0].code == "weak_key"


def test_blocklist_applies_to_every_algorithm() -> None:
    for key in (
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
    ):
        facts = facts_of(key)
        assert _rules(weak_key_findings(facts, DEFAULT, frozenset({facts.spki_sha256}))) == ["key.weak.blocklist"]
        assert weak_key_findings(facts, DEFAULT, frozenset({"f" * 64})) == []


def test_blocklist_match_ignores_the_case_of_the_facts() -> None:
    facts = KeyFacts(KeyAlgorithm.EC, 256, "AB" * 32, curve="secp256r1")
    assert _rules(weak_key_findings(facts, DEFAULT, parse_blocklist("ab" * 32))) == ["key.weak.blocklist"]


def test_every_weakness_is_reported_together(roca_primes: tuple[int, int]) -> None:
    # q = p + j*M is RSALib-shaped too (same residue mod M) and close enough for Fermat.
    p = roca_primes[0]
    m = math.prod((2, *ROCA_PRIMES))
    q = next(p + j * m for j in range(1, 10**6) if is_probable_prime(p + j * m))
    facts = rsa_facts(p * q)
    rules = _rules(weak_key_findings(facts, DEFAULT, frozenset({facts.spki_sha256})))
    assert rules == ["key.weak.blocklist", "key.weak.fermat", "key.weak.roca"]


def test_parse_blocklist_accepts_comments_blanks_and_upper_case() -> None:
    a, b = "a" * 64, "0123456789abcdef" * 4
    text = f"# header\n\n{a}\n  {b.upper()}   # trailing comment\n\t\n{a}\n"
    assert parse_blocklist(text) == frozenset({a, b})
    assert parse_blocklist("") == frozenset()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a" * 63, 1),
        ("# ok\n" + "a" * 65, 2),
        ("# ok\n\n" + "g" * 64, 3),
        ("a" * 64 + " " + "b" * 64, 1),
        ("sha256:" + "a" * 64, 1),
        ("a" * 64 + "\n" + "aa:" * 31 + "aa", 2),
    ],
    ids=["short", "long", "not-hex", "two-digests", "prefixed", "colons"],
)
def test_parse_blocklist_names_the_bad_line(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=f"line {line}:"):
        parse_blocklist(text)


def test_shipped_blocklist_parses_and_holds_the_rfc_9500_keys() -> None:
    shipped = parse_blocklist(DEFAULT_BLOCKLIST_PATH.read_text())
    p256 = load_pem_private_key(RFC9500_P256, None).public_key()
    rsa2048 = load_pem_public_key(RFC9500_RSA2048)
    assert isinstance(p256, ec.EllipticCurvePublicKey) and isinstance(rsa2048, rsa.RSAPublicKey)
    assert {spki_sha256(p256), spki_sha256(rsa2048)} <= shipped
    assert _rules(weak_key_findings(facts_of(p256), DEFAULT, shipped)) == ["key.weak.blocklist"]
    assert _rules(weak_key_findings(facts_of(rsa2048), DEFAULT, shipped)) == ["key.weak.blocklist"]
