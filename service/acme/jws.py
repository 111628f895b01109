"""JWS per RFC 8555 §6.2: flattened JSON, `alg`/`nonce`/`url`, `kid` xor `jwk`, verified with josepy."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwa
from josepy.jwk import JWK

from policies.config import KeyLimits
from service.acme.problems import AcmeProblem

# RFC 8555 §6.2: asymmetric algorithms only. josepy has no EdDSA, so certgate offers none.
ALGORITHMS: dict[str, tuple[jwa.JWASignature, type[Any], str | None]] = {
    "ES256": (jwa.ES256, ec.EllipticCurvePublicKey, "secp256r1"),
    "ES384": (jwa.ES384, ec.EllipticCurvePublicKey, "secp384r1"),
    "ES512": (jwa.ES512, ec.EllipticCurvePublicKey, "secp521r1"),
    "RS256": (jwa.RS256, rsa.RSAPublicKey, None),
}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class SignedRequest:
    """A parsed (not yet verified) ACME JWS."""

    alg: str
    nonce: str
    url: str
    kid: str | None
    jwk: dict[str, Any] | None
    payload: bytes
    signing_input: bytes
    signature: bytes

    def payload_json(self) -> dict[str, Any]:
        """The payload as a JSON object (POST-as-GET has an empty payload).

        Raises:
            AcmeProblem: malformed, not a JSON object.
        """
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AcmeProblem("malformed", "the JWS payload is not JSON") from exc
        if not isinstance(value, dict):
            raise AcmeProblem("malformed", "the JWS payload is not a JSON object")
        return value

    @property
    def is_post_as_get(self) -> bool:
        """An empty payload: RFC 8555 §6.3."""
        return self.payload == b""


def b64decode(text: object, what: str) -> bytes:
    """Strict unpadded base64url.

    Raises:
        AcmeProblem: malformed.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise AcmeProblem("malformed", f"{what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AcmeProblem("malformed", f"{what} is not base64url") from exc


def b64encode(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def split(outer: object) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """A flattened JWS object as (protected header, payload, signing input, signature).

    Raises:
        AcmeProblem: malformed.
    """
    if not isinstance(outer, dict) or set(outer) != {"protected", "payload", "signature"}:
        raise AcmeProblem("malformed", "a JWS must be flattened JSON: exactly protected, payload, signature")
    protected_b64, payload_b64 = outer["protected"], outer["payload"]
    header_bytes = b64decode(protected_b64, "protected")
    payload = b64decode(payload_b64, "payload")
    signature = b64decode(outer["signature"], "signature")
    try:
        header = json.loads(header_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AcmeProblem("malformed", "the protected header is not JSON") from exc
    if not isinstance(header, dict):
        raise AcmeProblem("malformed", "the protected header is not a JSON object")
    return header, payload, f"{protected_b64}.{payload_b64}".encode(), signature


def parse(body: bytes, *, inner: bool = False) -> SignedRequest:
    """Parse a flattened JWS and its protected header (nothing verified yet).

    `inner` is key-change's inner JWS: no nonce, a jwk and no kid (RFC 8555 §7.3.5).

    Raises:
        AcmeProblem: malformed (shape, encoding, header fields), badNonce, badSignatureAlgorithm,
            unauthorized (no url).
    """
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise AcmeProblem("malformed", "the body is not a JSON JWS") from exc
    header, payload, signing_input, signature = split(outer)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise AcmeProblem("badSignatureAlgorithm", f"alg {alg!r} is not offered", algorithms=list(ALGORITHMS))
    nonce, url, kid, jwk = header.get("nonce"), header.get("url"), header.get("kid"), header.get("jwk")
    if not isinstance(url, str) or not url:
        raise AcmeProblem("unauthorized", "the protected header needs a url", status=400)
    if inner:
        if nonce is not None or kid is not None or not isinstance(jwk, dict):
            raise AcmeProblem("malformed", "the inner JWS has a jwk, and no nonce or kid")
        nonce = ""
    elif not isinstance(nonce, str) or not nonce:
        raise AcmeProblem("badNonce", "the protected header needs a nonce")
    if (kid is None) == (jwk is None):
        raise AcmeProblem("malformed", "the protected header needs exactly one of kid and jwk")
    if kid is not None and not isinstance(kid, str) or jwk is not None and not isinstance(jwk, dict):
        raise AcmeProblem("malformed", "kid must be a string and jwk an object")
    return SignedRequest(alg, nonce, url, kid, jwk, payload, signing_input, signature)


def load_key(jwk: dict[str, Any], limits: KeyLimits) -> JWK:
    """A client's public JWK, held to the key policy (RSA size and exponent, the curve list).

    Raises:
        AcmeProblem: badPublicKey.
    """
    if jwk.get("kty") not in ("RSA", "EC") or "d" in jwk:
        raise AcmeProblem("badPublicKey", "account keys are public RSA or EC keys")
    key = jwk_of(jwk, "badPublicKey")
    public = public_key(key)
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        if not limits.rsa_min_bits <= public.key_size <= limits.rsa_max_bits or numbers.e not in limits.rsa_exponents:
            raise AcmeProblem("badPublicKey", f"RSA account keys are {limits.rsa_min_bits} to {limits.rsa_max_bits} bits"
                                              f" with exponent {', '.join(map(str, limits.rsa_exponents))}")
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in limits.ec_curves:
            raise AcmeProblem("badPublicKey", f"EC account keys use {', '.join(limits.ec_curves)}")
    else:
        raise AcmeProblem("badPublicKey", "account keys are RSA or EC keys")
    return key


def public_key(key: JWK) -> Any:
    """The `cryptography` public key inside a josepy JWK (josepy wraps it to compare keys)."""
    wrapped = key.key
    return getattr(wrapped, "_wrapped", wrapped)


def jwk_of(value: object, problem: str) -> JWK:
    """A JWK from its JSON form.

    Raises:
        AcmeProblem: of kind `problem`, when `value` is no valid JWK.
    """
    if not isinstance(value, dict):
        raise AcmeProblem(problem, "the key is not a JWK object")
    try:
        key = JWK.from_json(value)
    except Exception as exc:  # noqa: BLE001 - josepy raises several kinds for a bad key
        raise AcmeProblem(problem, "the JWK is not a valid key") from exc
    if not isinstance(key, JWK):
        raise AcmeProblem(problem, "the JWK is not a valid key")
    return key


def stored_key(jwk: dict[str, Any]) -> JWK:
    """An account's stored JWK, parsed once per process (every kid request of the account needs it).

    Raises:
        AcmeProblem: serverInternal, when the stored value is no valid JWK.
    """
    return _stored_key(json.dumps(jwk, sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _stored_key(canonical: str) -> JWK:
    return jwk_of(json.loads(canonical), "serverInternal")  # a failure is not cached: lru_cache keeps results only


def verify(signed: SignedRequest, key: JWK) -> None:
    """Check the signature with `key`, whose type must match `alg`.

    Raises:
        AcmeProblem: badSignatureAlgorithm (alg does not fit the key), malformed (bad signature).
    """
    algorithm, key_type, curve = ALGORITHMS[signed.alg]
    public = public_key(key)
    if not isinstance(public, key_type) or curve is not None and public.curve.name != curve:
        raise AcmeProblem("badSignatureAlgorithm", f"alg {signed.alg} does not fit the key", algorithms=list(ALGORITHMS))
    try:
        valid = algorithm.verify(public, signed.signing_input, signed.signature)
    except Exception:  # noqa: BLE001 - a garbled signature must read as invalid, never as a 500
        valid = False
    if not valid:
        raise AcmeProblem("malformed", "JWS verification error")


def thumbprint(key: JWK) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url."""
    return b64encode(key.thumbprint())


def verify_mac(signing_input: bytes, signature: bytes, mac_key: bytes) -> bool:
    """An EAB JWS's HMAC (HS256) against `mac_key`."""
    try:
        return bool(jwa.HS256.verify(mac_key, signing_input, signature))
    except Exception:  # noqa: BLE001
        return False
