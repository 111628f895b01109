"""Key strength rules on facts: algorithms, RSA size, modulus length and exponent, EC curves."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from policies.config import KeyLimits
from policies.decision import Finding, Severity
from policies.facts import KeyAlgorithm, KeyFacts
from policies.keys import key_findings
from tests.policies.keyfacts import facts_of, rsa_facts
from tests.policies.primes import random_prime

DEFAULT = KeyLimits()
DIGEST = "0" * 64


def _rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted((f.rule, f.code) for f in findings)


@pytest.fixture(scope="module")
def rsa2048() -> KeyFacts:
    return facts_of(rsa.generate_private_key(65537, 2048).public_key())


@pytest.fixture(scope="module")
def moduli() -> dict[str, int]:
    """Products of two primes with awkward lengths: 2047, 2049 and 2056 bits."""
    rng = random.Random(2047)
    return {
        "2047": _exact(2047, rng),
        "2049": _exact(2049, rng),
        "2056": _exact(2056, rng),
    }


def _exact(bits: int, rng: random.Random) -> int:
    """A product of two primes with exactly `bits` bits."""
    while True:
        n = random_prime(bits // 2, rng) * random_prime(bits - bits // 2, rng)
        if n.bit_length() == bits:
            return n


def test_good_2048_key_passes(rsa2048: KeyFacts) -> None:
    assert key_findings(rsa2048, DEFAULT) == []


def test_1024_key_is_too_small() -> None:
    facts = facts_of(rsa.generate_private_key(65537, 1024).public_key())
    findings = key_findings(facts, DEFAULT)
    assert _rules(findings) == [("key.rsa.size", "key_too_small")]
    assert "1024" in findings[0].message and "2048" in findings[0].message


def test_2047_bit_modulus_is_too_small_and_not_a_whole_byte(moduli: dict[str, int]) -> None:
    findings = key_findings(rsa_facts(moduli["2047"]), DEFAULT)
    assert _rules(findings) == [("key.rsa.modulus_length", "key_type_not_allowed"), ("key.rsa.size", "key_too_small")]


def test_2049_bit_modulus_is_not_a_whole_byte(moduli: dict[str, int]) -> None:
    findings = key_findings(rsa_facts(moduli["2049"]), DEFAULT)
    assert _rules(findings) == [("key.rsa.modulus_length", "key_type_not_allowed")]
    assert "multiple of 8" in findings[0].message and "2049" in findings[0].message


def test_2056_bit_modulus_is_fine(moduli: dict[str, int]) -> None:
    assert key_findings(rsa_facts(moduli["2056"]), DEFAULT) == []


def test_exponent_3_is_refused() -> None:
    facts = facts_of(rsa.generate_private_key(3, 2048).public_key())
    findings = key_findings(facts, DEFAULT)
    assert _rules(findings) == [("key.rsa.exponent", "key_type_not_allowed")]
    assert "3" in findings[0].message and "65537" in findings[0].message


def test_exponent_3_passes_when_the_policy_lists_it() -> None:
    facts = facts_of(rsa.generate_private_key(3, 2048).public_key())
    assert key_findings(facts, KeyLimits(rsa_exponents=(3, 65537))) == []


def test_every_violation_is_reported_together(moduli: dict[str, int]) -> None:
    findings = key_findings(rsa_facts(moduli["2047"], exponent=3), DEFAULT)
    assert _rules(findings) == [
        ("key.rsa.exponent", "key_type_not_allowed"),
        ("key.rsa.modulus_length", "key_type_not_allowed"),
        ("key.rsa.size", "key_too_small"),
    ]
    assert {f.severity for f in findings} == {Severity.REJECT}
    assert {f.subject for f in findings} == {"public_key"}


# Sizes near the limits; the key rules look only at the modulus length, so an odd number will do.
@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (2040, [("key.rsa.size", "key_too_small")]),
        (2048, []),
        (4096, []),
        (8192, []),
        (8193, [("key.rsa.modulus_length", "key_type_not_allowed"), ("key.rsa.size", "key_type_not_allowed")]),
        (8200, [("key.rsa.size", "key_type_not_allowed")]),
        (16384, [("key.rsa.size", "key_type_not_allowed")]),
    ],
)
def test_size_limits(bits: int, expected: list[tuple[str, str]]) -> None:
    modulus = (1 << (bits - 1)) | random.Random(bits).getrandbits(bits - 1) | 1
    assert _rules(key_findings(rsa_facts(modulus), DEFAULT)) == expected


def test_oversized_key_message_names_the_limit() -> None:
    (finding,) = key_findings(rsa_facts((1 << 8199) | 1), DEFAULT)
    assert "8200" in finding.message and "8192" in finding.message


def test_policy_can_raise_the_minimum(rsa2048: KeyFacts) -> None:
    findings = key_findings(rsa2048, KeyLimits(rsa_min_bits=3072))
    assert _rules(findings) == [("key.rsa.size", "key_too_small")]


@pytest.mark.parametrize(
    "facts",
    [
        KeyFacts(KeyAlgorithm.RSA, 2048, DIGEST, rsa_modulus=(1 << 2047) | 1, rsa_exponent=None),
        KeyFacts(KeyAlgorithm.RSA, 2048, DIGEST, rsa_modulus=None, rsa_exponent=65537),
        KeyFacts(KeyAlgorithm.RSA, 2056, DIGEST, rsa_modulus=(1 << 2047) | 1, rsa_exponent=65537),
    ],
    ids=["no-exponent", "no-modulus", "bits-disagree"],
)
def test_inconsistent_rsa_facts_are_a_bug_not_a_finding(facts: KeyFacts) -> None:
    with pytest.raises(ValueError):
        key_findings(facts, DEFAULT)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name)
def test_nist_curves_pass(curve: ec.EllipticCurve) -> None:
    facts = facts_of(ec.generate_private_key(curve).public_key())
    assert key_findings(facts, DEFAULT) == []


def test_secp256k1_is_refused() -> None:
    facts = facts_of(ec.generate_private_key(ec.SECP256K1()).public_key())
    (finding,) = key_findings(facts, DEFAULT)
    assert (finding.rule, finding.code) == ("key.ec.curve", "key_type_not_allowed")
    assert "secp256k1" in finding.message


@pytest.mark.parametrize("curve", [None, "explicit"])
def test_explicit_curve_parameters_are_refused(curve: str | None) -> None:
    (finding,) = key_findings(KeyFacts(KeyAlgorithm.EC, 256, DIGEST, curve=curve), DEFAULT)
    assert (finding.rule, finding.code) == ("key.ec.curve", "key_type_not_allowed")
    assert "explicit" in finding.message


def test_policy_can_narrow_the_curves() -> None:
    facts = facts_of(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert _rules(key_findings(facts, KeyLimits(ec_curves=("secp384r1",)))) == [
        ("key.ec.curve", "key_type_not_allowed")
    ]


@pytest.mark.parametrize(
    ("facts", "limits", "allowed"),
    [
        (facts_of(ed25519.Ed25519PrivateKey.generate().public_key()), DEFAULT, False),
        (facts_of(ed25519.Ed25519PrivateKey.generate().public_key()), KeyLimits(allow_ed25519=True), True),
        (facts_of(ed25519.Ed25519PrivateKey.generate().public_key()), KeyLimits(allow_ed448=True), False),
        (facts_of(ed448.Ed448PrivateKey.generate().public_key()), DEFAULT, False),
        (facts_of(ed448.Ed448PrivateKey.generate().public_key()), KeyLimits(allow_ed448=True), True),
        (KeyFacts(KeyAlgorithm.DSA, 2048, DIGEST), KeyLimits(allow_ed25519=True, allow_ed448=True), False),
        (KeyFacts(KeyAlgorithm.DSA, 3072, DIGEST), DEFAULT, False),
        (KeyFacts(KeyAlgorithm.OTHER, 0, DIGEST), DEFAULT, False),
    ],
    ids=[
        "ed25519-default", "ed25519-allowed", "ed25519-only-ed448-allowed", "ed448-default",
        "ed448-allowed", "dsa-everything-else-allowed", "dsa", "other",
    ],
)  # fmt: skip
def test_algorithms(facts: KeyFacts, limits: KeyLimits, allowed: bool) -> None:
    findings = key_findings(facts, limits)
    if allowed:
        assert findings == []
    else:
        assert _rules(findings) == [("key.algorithm", "key_type_not_allowed")]
        assert findings[0].severity is Severity.REJECT and findings[0].subject == "public_key"


def test_dsa_message_is_specific() -> None:
    (finding,) = key_findings(KeyFacts(KeyAlgorithm.DSA, 2048, DIGEST), DEFAULT)
    assert finding.message.startswith("DSA keys are not allowed")


def test_key_rule_modules_import_only_the_standard_library() -> None:
    """policies/ stays pure: no cryptography, flask or database imports in these rules."""
    root = Path(__file__).resolve().parents[2] / "policies"
    for name in ("keys.py", "weakkeys.py", "validity.py"):
        tree = ast.parse((root / name).read_text(), name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top in {"policies", "__future__"}, f"{name} imports {module}"
