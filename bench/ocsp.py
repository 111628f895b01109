"""OCSP answers per second: cached signed answers vs a fresh build per request vs raw signing.

Run from the repository root:
    python bench/ocsp.py [--seconds 4] [--rounds 8] [--key p256|p384|rsa2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, not installed

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from service.ca.crl import SigningKey, signature_hash  # noqa: E402
from service.ca.ocsp import (  # noqa: E402
    CertStatusAnswer,
    build_ocsp_response,
    parse_ocsp_request,
)
from service.ca.ocsp_responder import OcspResponseCache, create_ocsp_responder  # noqa: E402

VALIDITY = timedelta(hours=12)
SERIALS = 1000  # distinct certificates asked about, all cached after the first round


def _issuing_ca(key_type: str, now: datetime) -> tuple[x509.Certificate, SigningKey]:
    key: SigningKey
    if key_type == "rsa2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if key_type == "p384" else ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench issuing CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, signature_hash(key))
    )
    return cert, key


def _request(issuer: x509.Certificate, serial: int, nonce: bytes | None) -> bytes:
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(issuer.subject.public_bytes())
    key_hash = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), key_hash, serial, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _rates(
    paths: dict[str, Callable[[int], object]], seconds: float, rounds: int
) -> dict[str, float]:
    """Best operations per second of each path, the paths measured in turns.

    Taking turns (rather than one path after another) keeps a burst of load on the machine
    from landing on a single row and skewing the ratios.
    """
    best = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for label, run_once in paths.items():
            count, start = 0, time.perf_counter()
            while True:
                for i in range(50):
                    run_once(count + i)
                count += 50
                elapsed = time.perf_counter() - start
                if elapsed >= seconds / rounds:
                    break
            best[label] = max(best[label], count / elapsed)
    return best


def main() -> None:
    """Measure the four paths and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="time per path")
    parser.add_argument("--rounds", type=int, default=8, help="turns per path; the best counts")
    parser.add_argument("--key", default="p256", choices=["p256", "p384", "rsa2048"])
    args = parser.parse_args()

    now = datetime.now(UTC)
    issuer, issuer_key = _issuing_ca(args.key, now)
    responder, responder_key = create_ocsp_responder(issuer, issuer_key, now)
    statuses = {serial: CertStatusAnswer.good() for serial in range(1, SERIALS + 1)}
    plain = [_request(issuer, serial, None) for serial in range(1, SERIALS + 1)]
    with_nonce = [_request(issuer, serial, serial.to_bytes(16, "big"))
                  for serial in range(1, SERIALS + 1)]
    cache = OcspResponseCache(max_age=timedelta(hours=1), max_entries=SERIALS)
    sample_tbs = ocsp.load_der_ocsp_response(build_ocsp_response(
        parse_ocsp_request(plain[0]), issuer, responder, responder_key, statuses.__getitem__,
        now, VALIDITY)).tbs_response_bytes

    def raw_sign(i: int) -> object:
        if isinstance(responder_key, ec.EllipticCurvePrivateKey):
            return responder_key.sign(sample_tbs, ec.ECDSA(signature_hash(responder_key)))
        return responder_key.sign(sample_tbs, padding.PKCS1v15(), hashes.SHA256())

    def full_build(i: int) -> bytes:
        return build_ocsp_response(parse_ocsp_request(plain[i % SERIALS]), issuer, responder,
                                   responder_key, statuses.__getitem__, now, VALIDITY)

    def cached(i: int) -> bytes:
        return cache.respond(parse_ocsp_request(plain[i % SERIALS]), issuer, responder,
                             responder_key, statuses.__getitem__, now, VALIDITY)

    def cached_with_nonce(i: int) -> bytes:
        return cache.respond(parse_ocsp_request(with_nonce[i % SERIALS]), issuer, responder,
                             responder_key, statuses.__getitem__, now, VALIDITY)

    for i in range(SERIALS):  # warm the cache: the steady state of a responder
        cached(i)
    digest_bits = signature_hash(responder_key).digest_size * 8
    rates = _rates({
        f"raw {args.key} sign (responder key, SHA-{digest_bits})": raw_sign,
        "full build per request (parse + sign, no nonce)": full_build,
        "cache, nonce request (parse + fresh sign)": cached_with_nonce,
        "cache hit, nonce-less request (parse + lookup)": cached,
    }, args.seconds, args.rounds)
    base = next(iter(rates.values()))
    print(f"OCSP answers, {args.key} responder, {SERIALS} serials, Python "
          f"{sys.version.split()[0]}, best of {args.rounds} turns, {args.seconds:.1f}s per path, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'path':<58}{'ops/s':>12}{'us/op':>10}{'x raw sign':>12}")
    for label, rate in rates.items():
        print(f"{label:<58}{rate:>12,.0f}{1e6 / rate:>10.1f}{rate / base:>12.2f}")


if __name__ == "__main__":
    main()
