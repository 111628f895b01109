"""Anonymous revocation endpoints: `/crl` (generation 1), `/crl/N`, `/crl/root`, `POST /ocsp`, `GET /ocsp/{base64}`."""

from __future__ import annotations

from flask import Blueprint, Response, request

from service.api.auth import runtime
from service.ca.ocsp import MalformedOcspRequest, decode_ocsp_get_path, malformed_response

blp = Blueprint("revocation", __name__)
OCSP_RESPONSE = "application/ocsp-response"
MAX_OCSP_REQUEST = 8 * 1024


def _der_response(body: bytes, mimetype: str, max_age: int) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={max_age}, no-transform"
    return response


@blp.get("/crl")
def crl() -> Response:
    """The issuing CA's CRL, DER."""
    rt = runtime()
    return _der_response(rt.revocation.crl(rt.clock()), "application/pkix-crl", 300)


@blp.get("/crl/<int:generation>")
def generation_crl(generation: int) -> Response:
    """Issuing CA generation N's CRL, DER (the CRL distribution point of the leaves it signed)."""
    rt = runtime()
    return _der_response(rt.revocation.crl(rt.clock(), generation), "application/pkix-crl", 300)


@blp.get("/crl/root")
def root_crl() -> Response:
    """The root CA's CRL, DER (the issuing CA certificate's CRL distribution point)."""
    rt = runtime()
    return _der_response(rt.revocation.root_crl(rt.clock()), "application/pkix-crl", 3600)


@blp.post("/ocsp")
def ocsp_post() -> Response:
    """RFC 6960 over POST (`application/ocsp-request`)."""
    body = request.get_data(cache=False)
    if len(body) > MAX_OCSP_REQUEST:
        return _der_response(malformed_response(), OCSP_RESPONSE, 0)
    rt = runtime()
    return _der_response(rt.revocation.ocsp(body, rt.clock()), OCSP_RESPONSE, 0)


@blp.get("/ocsp/<path:encoded>")
def ocsp_get(encoded: str) -> Response:
    """RFC 6960 appendix A.1 GET: the base64 (URL-encoded) DER request in the path."""
    rt = runtime()
    try:
        der = decode_ocsp_get_path(encoded)
    except MalformedOcspRequest:
        return _der_response(malformed_response(), OCSP_RESPONSE, 0)
    return _der_response(rt.revocation.ocsp(der, rt.clock()), OCSP_RESPONSE, 300)
