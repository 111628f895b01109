"""CA keys in a PKCS#11 token (python-pkcs11): one login and a session pool per process, signing.

Why python-pkcs11 and not PyKCS11: a typed, Pythonic API (sessions, keys, templates as objects),
every PKCS#11 call made with the GIL released, re-initialisation for a forked child, the EC
encodings built in; PyKCS11 is a thin SWIG layer that would need all of that written here.

Rules kept here:
- The library is initialised with NULL arguments (python-pkcs11 offers nothing else), which by
  the standard means no concurrent calls: calls into one module are serialised per process.
  gunicorn's sync workers are one thread each, so this costs nothing there; parallelism comes
  from the workers, each with its own library instance, login and sessions.
- A forked child must not use its parent's sessions (PKCS#11 v2.40 §6.7.7): the pid is checked
  on every borrow, and a changed pid re-initialises the library and logs in again.
- One "anchor" session carries the login (logging out is per application, so it stays open);
  signing sessions are borrowed from a pool and return to it; each caches its key handles.
- The digest is computed here and the token signs it (CKM_ECDSA, CKM_RSA_PKCS over a
  DigestInfo): every token has these; SoftHSM 2.6 has no CKM_ECDSA_SHA256.
- Any PKCS#11 failure drops the pool and the login (the next call starts afresh) and raises
  `TokenUnavailable` with words an operator can act on. No PIN ever reaches a message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from service.ca.keystore import CaKeyType, SignatureHash
from service.ca.signer import CaPublicKey
from service.errors import CaError, TokenUnavailable

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Lib

_CURVE_OIDS = {CaKeyType.P256: "1.2.840.10045.3.1.7", CaKeyType.P384: "1.3.132.0.34"}
_RSA_BITS = {CaKeyType.RSA3072: 3072, CaKeyType.RSA4096: 4096}
# DigestInfo prefixes (RFC 8017 §9.2 note 1) for PKCS#1 v1.5 signatures made by CKM_RSA_PKCS.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_MESSAGES: dict[type[p11.PKCS11Error], str] = {
    p11.PinIncorrect: "the token refused the PIN (wrong CERTGATE_PKCS11_PIN?)",
    p11.PinLocked: "the token's user PIN is locked",
    p11.PinExpired: "the token's user PIN has expired",
    p11.NoSuchToken: "no such token in the PKCS#11 module",
    p11.TokenNotPresent: "the token is not present",
    p11.DeviceRemoved: "the token was removed",
    p11.UserNotLoggedIn: "the token session is not logged in",
}


@dataclass(frozen=True)
class TokenConfig:
    """Which PKCS#11 module and token hold the CA keys, the PIN, and the keys' labels."""

    module: str
    token_label: str
    pin: str = field(repr=False)
    root_label: str = "certgate-root"
    issuing_label: str = "certgate-issuing"
    ocsp_label: str | None = None

    def issuing_label_for(self, generation: int) -> str:
        """The issuing key's label of `generation`: `issuing_label`, then `<issuing_label>-<N>` after rollovers."""
        return self.issuing_label if generation == 1 else f"{self.issuing_label}-{generation}"


@dataclass
class TokenTimings:
    """Where this process's token time went (read by bench/hsm.py)."""

    session_seconds: float = 0.0  # borrowing a session: login, opening, finding the key
    sign_seconds: float = 0.0  # inside C_SignInit + C_Sign
    signatures: int = 0


@dataclass
class _Pooled:
    session: pkcs11.Session
    keys: dict[str, pkcs11.types.SignMixin] = field(default_factory=dict)


_LIBRARIES: dict[str, tuple[int, Pkcs11Lib, threading.Lock]] = {}
_LIBRARIES_LOCK = threading.Lock()
_TOKENS: dict[tuple[str, str, str], Token] = {}


def open_token(config: TokenConfig) -> Token:
    """The process's `Token` for `config` (one per module, token and PIN; opened lazily)."""
    key = (config.module, config.token_label, config.pin)
    with _LIBRARIES_LOCK:
        token = _TOKENS.get(key)
        if token is None:
            token = _TOKENS[key] = Token(config)
        return token


def _library(module: str) -> tuple[Pkcs11Lib, threading.Lock]:
    """The loaded module for this process, re-initialised in a forked child.

    Raises:
        TokenUnavailable: the module cannot be loaded.
    """
    with _LIBRARIES_LOCK:
        entry = _LIBRARIES.get(module)
        pid = os.getpid()
        if entry is not None and entry[0] == pid:
            return entry[1], entry[2]
        try:
            if entry is None:
                lib = pkcs11.lib(module)
            else:
                lib = entry[1]
                try:
                    lib.finalize()  # the parent's state, copied by fork
                except p11.PKCS11Error:
                    pass
                lib.initialize()
        except p11.PKCS11Error as exc:
            raise TokenUnavailable(f"cannot load the PKCS#11 module {module}: {exc}") from None
        _LIBRARIES[module] = (pid, lib, threading.Lock())
        return lib, _LIBRARIES[module][2]


class Token:
    """One PKCS#11 token as this process uses it: the login, a session pool, signatures."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self.timings = TokenTimings()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._token: pkcs11.Token | None = None
        self._anchor: pkcs11.Session | None = None
        self._idle: list[_Pooled] = []
        self._call_lock = threading.Lock()

    def _open(self) -> pkcs11.Token:
        """Log in once for this process (again after a fork or a failure). Holds `_lock`."""
        if self._pid == os.getpid() and self._token is not None:
            return self._token
        self._idle, self._anchor, self._token = [], None, None
        lib, self._call_lock = _library(self.config.module)
        with self._call_lock:
            try:
                token: pkcs11.Token = lib.get_token(token_label=self.config.token_label)
            except p11.NoSuchToken:
                raise TokenUnavailable(f"no token labelled {self.config.token_label!r} in "
                                       f"{self.config.module}") from None
            except p11.PKCS11Error as exc:
                raise _unavailable(exc) from None
            try:
                self._anchor = token.open(user_pin=self.config.pin)
            except p11.UserAlreadyLoggedIn:  # another Token object of this process logged in
                self._anchor = token.open()
            except p11.PKCS11Error as exc:
                raise _unavailable(exc) from None
        self._token, self._pid = token, os.getpid()
        return token

    @property
    def owner_pid(self) -> int | None:
        """The process whose login and sessions the pool holds (None: not logged in)."""
        return self._pid

    def reset(self) -> None:
        """Forget the pool and the login: the next call logs in afresh."""
        with self._lock:
            self._idle, self._anchor, self._token, self._pid = [], None, None, None

    @contextmanager
    def _borrow(self) -> Iterator[_Pooled]:
        started = time.perf_counter()
        with self._lock:
            token = self._open()
            pooled = self._idle.pop() if self._idle else None
        try:
            if pooled is None:
                with self._call_lock:
                    pooled = _Pooled(token.open())
        except p11.PKCS11Error as exc:
            self.reset()
            raise _unavailable(exc) from None
        self.timings.session_seconds += time.perf_counter() - started
        pid = os.getpid()
        try:
            yield pooled
        except p11.PKCS11Error as exc:
            self.reset()
            raise _unavailable(exc) from None
        with self._lock:
            if self._pid == pid and self._token is token:
                self._idle.append(pooled)

    def _private_key(self, pooled: _Pooled, label: str) -> pkcs11.types.SignMixin:
        key = pooled.keys.get(label)
        if key is None:
            started = time.perf_counter()
            with self._call_lock:
                try:
                    found = pooled.session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
                except p11.NoSuchKey:
                    raise TokenUnavailable(f"no private key labelled {label!r} in token "
                                           f"{self.config.token_label!r}") from None
            assert isinstance(found, pkcs11.types.SignMixin)
            key = pooled.keys[label] = found
            self.timings.session_seconds += time.perf_counter() - started
        return key

    def sign(self, label: str, data: bytes, public_key: CaPublicKey, digest: SignatureHash) -> bytes:
        """The token's signature over `data` with the key `label` (ECDSA as DER, or PKCS#1 v1.5).

        Raises:
            TokenUnavailable: the module, token, login, key or signature failed.
        """
        hasher = hashes.Hash(digest)
        hasher.update(data)
        hashed = hasher.finalize()
        with self._borrow() as pooled:
            key = self._private_key(pooled, label)
            started = time.perf_counter()
            with self._call_lock:
                if isinstance(public_key, ec.EllipticCurvePublicKey):
                    raw = key.sign(hashed, mechanism=Mechanism.ECDSA)  # r || s, PKCS#11 §2.3.1
                    half = len(raw) // 2
                    signature = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
                else:
                    signature = key.sign(_DIGEST_INFO[digest.name] + hashed, mechanism=Mechanism.RSA_PKCS)
            self.timings.sign_seconds += time.perf_counter() - started
            self.timings.signatures += 1
        return signature

    def public_key(self, label: str) -> CaPublicKey:
        """The public key stored beside the private key `label`.

        Raises:
            TokenUnavailable: no such key, or the token failed.
        """
        with self._borrow() as pooled, self._call_lock:
            try:
                public = pooled.session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            except p11.NoSuchKey:
                raise TokenUnavailable(f"no public key labelled {label!r} in token "
                                       f"{self.config.token_label!r}") from None
            return _public_key(public)

    def generate(self, label: str, kind: CaKeyType) -> CaPublicKey:
        """A new key pair `label` inside the token: sensitive, never extractable, signing only.

        Raises:
            CaError: a key with this label exists already (nothing is overwritten).
            TokenUnavailable: the token failed.
        """
        private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True,
                   Attribute.SIGN: True, Attribute.DECRYPT: False, Attribute.UNWRAP: False,
                   Attribute.DERIVE: False}
        public = {Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False}
        with self._lock:
            token = self._open()
        try:
            with self._call_lock, token.open(rw=True) as session:
                if list(session.get_objects({Attribute.LABEL: label})):
                    raise CaError(f"the token already holds a key labelled {label!r}: refusing to overwrite it")
                if kind in _CURVE_OIDS:
                    params = session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVE_OIDS[kind])}, local=True)
                    pub, _ = params.generate_keypair(store=True, label=label, private_template=private,
                                                     public_template=public)
                else:
                    pub, _ = session.generate_keypair(KeyType.RSA, _RSA_BITS[kind], store=True, label=label,
                                                      private_template=private, public_template=public)
                return _public_key(pub)
        except p11.PKCS11Error as exc:
            self.reset()
            raise _unavailable(exc) from None

    def destroy(self, label: str) -> None:
        """Delete the key pair `label` (a rollover that failed after generating it).

        Raises:
            TokenUnavailable: the token failed.
        """
        with self._lock:
            token = self._open()
            for pooled in self._idle:  # cached handles of the destroyed key
                pooled.keys.pop(label, None)
        try:
            with self._call_lock, token.open(rw=True) as session:
                for found in list(session.get_objects({Attribute.LABEL: label})):
                    found.destroy()
        except p11.PKCS11Error as exc:
            self.reset()
            raise _unavailable(exc) from None


def _public_key(public: pkcs11.Key) -> CaPublicKey:
    if public.key_type is KeyType.EC:
        assert isinstance(public, pkcs11.PublicKey)
        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
    else:
        assert isinstance(public, pkcs11.PublicKey)
        loaded = serialization.load_der_public_key(encode_rsa_public_key(public))
    if not isinstance(loaded, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise CaError("the token key is neither EC nor RSA")
    return loaded


def _unavailable(exc: p11.PKCS11Error) -> TokenUnavailable:
    for kind, message in _MESSAGES.items():
        if isinstance(exc, kind):
            return TokenUnavailable(message)
    return TokenUnavailable(f"the PKCS#11 token failed: {type(exc).__name__}")
