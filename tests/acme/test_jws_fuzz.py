"""Fuzzing the JWS layer: any body, any header, signed or not: never a 5xx, never a stored row."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel, func, select

from service.process.runtime import Runtime
from tests.acme.client import BASE, JOSE, AcmeTestClient
from tests.acme.orders import b64
from tests.acme.test_errors import raw_jws

TABLES = ("acme_accounts", "acme_orders", "acme_authorizations", "acme_challenges", "acme_eab_keys", "requests",
          "certificates", "audit_events")
PATHS = ("/new-account", "/new-order", "/revoke-cert", "/key-change", "/order/x", "/order/x/finalize", "/authz/x",
         "/chall/x", "/cert/00")
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


def _counts(rt: Runtime) -> dict[str, int]:
    with rt.db.read() as session:
        return {t: session.exec(select(func.count()).select_from(SQLModel.metadata.tables[t])).one() for t in TABLES}


def _header(account: AcmeTestClient, path: str, draw: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": draw(st.sampled_from(["ES256", "ES384", "RS256", "HS256", "none", "", 5])),
                              "nonce": account.nonce() if draw(st.booleans()) else draw(st.text(max_size=30)),
                              "url": BASE + path if draw(st.booleans()) else draw(st.text(max_size=30))}
    which = draw(st.sampled_from(["kid", "jwk", "both", "none", "junk"]))
    if which in ("kid", "both"):
        header["kid"] = account.kid
    if which in ("jwk", "both"):
        header["jwk"] = account.key.public_key().to_partial_json()
    if which == "junk":
        header[draw(st.sampled_from(["kid", "jwk"]))] = draw(json_values)
    for key, value in draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)).items():
        header.setdefault(key, value)
    return header


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_jws_gets_a_5xx_or_stores_anything(account: AcmeTestClient, http: FlaskClient, acme_runtime: Runtime,
                                              data: st.DataObject) -> None:
    before = _counts(acme_runtime)
    path = data.draw(st.sampled_from(PATHS))
    shape = data.draw(st.sampled_from(["bytes", "json", "signed-header", "signed-payload"]))
    if shape == "bytes":
        body = data.draw(st.binary(max_size=200))
    elif shape == "json":
        body = json.dumps(data.draw(json_values)).encode()
    elif shape == "signed-header":
        payload = json.dumps(data.draw(json_values)).encode()
        body = raw_jws(_header(account, path, data.draw), payload, account.key)
        if data.draw(st.booleans()):
            outer = json.loads(body)
            outer[data.draw(st.sampled_from(["protected", "payload", "signature"]))] = b64(data.draw(st.binary(max_size=40)))
            body = json.dumps(outer).encode()
    else:
        body = account.jws(BASE + path, data.draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4)))
    response = http.post("/acme" + path, data=body, headers=JOSE)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json" or response.status_code < 300
    assert _counts(acme_runtime) == before
