"""Anonymous PKI endpoints: the CA chain and certificates (CRL and OCSP live in `revocation`)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response

from service.api.auth import runtime

blp = Blueprint("pki", __name__)


@blp.get("/ca.pem")
def ca_chain() -> Response:
    """The issuing CA then the root, PEM."""
    return Response(runtime().ca.chain_pem, mimetype="application/pem-certificate-chain")


@blp.get("/ca/issuing.cer")
def issuing_der() -> Response:
    """The issuing CA certificate, DER (the leaves' AIA caIssuers)."""
    return Response(runtime().ca.issuing_cert.public_bytes(Encoding.DER), mimetype="application/pkix-cert")


@blp.get("/ca/root.cer")
def root_der() -> Response:
    """The root CA certificate, DER (the issuing CA's AIA caIssuers)."""
    return Response(runtime().ca.root_cert.public_bytes(Encoding.DER), mimetype="application/pkix-cert")
