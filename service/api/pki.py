"""Anonymous PKI endpoints: the CA chain and certificates (CRL and OCSP live in `revocation`).

`/ca.pem` follows the signer (after a rollover, the new issuing CA); `/ca/issuing.cer` stays the
first issuing CA, the one its certificates' caIssuers names; `/ca/issuing/N.cer` and `/ca/N.pem`
are generation N's (`certgate ca status` lists them).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response

from service.api.auth import runtime

blp = Blueprint("pki", __name__)
PEM_CHAIN, DER_CERT = "application/pem-certificate-chain", "application/pkix-cert"


@blp.get("/ca.pem")
def ca_chain() -> Response:
    """The issuing CA that signs now, then the root, PEM."""
    return Response(runtime().ca.chain_pem, mimetype=PEM_CHAIN)


@blp.get("/ca/<int:generation>.pem")
def generation_chain(generation: int) -> Response:
    """Issuing CA generation N, then the root, PEM."""
    return Response(runtime().roster.get(generation).chain_pem, mimetype=PEM_CHAIN)


@blp.get("/ca/issuing.cer")
def issuing_der() -> Response:
    """The first issuing CA certificate, DER (its leaves' AIA caIssuers)."""
    return Response(runtime().roster.get(1).issuing_cert.public_bytes(Encoding.DER), mimetype=DER_CERT)


@blp.get("/ca/issuing/<int:generation>.cer")
def generation_der(generation: int) -> Response:
    """Issuing CA generation N, DER (the AIA caIssuers of the leaves it signed)."""
    return Response(runtime().roster.get(generation).issuing_cert.public_bytes(Encoding.DER), mimetype=DER_CERT)


@blp.get("/ca/root.cer")
def root_der() -> Response:
    """The root CA certificate, DER (the issuing CA's AIA caIssuers)."""
    return Response(runtime().roster.get(1).root_cert.public_bytes(Encoding.DER), mimetype=DER_CERT)
