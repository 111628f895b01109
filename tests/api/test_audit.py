"""The audit log through the API: queries, tree heads, proofs checked by an independent verifier,
and tampering with the SQLite file detected (each case on a log made by real API calls)."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask.testing import FlaskClient

from service.audit.canonical import event_leaf_hash
from service.process.config import Settings
from tests.api.helpers import add_range, submit
from tests.conftest import bearer
from tests.factories import csr_pem

# --- an independent RFC 9162 verifier: it shares no code with service.audit ----------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        return not proof and root1 == root2
    if first & (first - 1) == 0:
        proof = [root1, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


def sth_signed_bytes(sth: dict[str, Any]) -> bytes:
    """RFC 6962 TreeHeadSignature: version 0, type tree_hash (1), ms timestamp, size, root."""
    ms = round(datetime.fromisoformat(sth["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    return bytes([0, 1]) + ms.to_bytes(8, "big") + sth["tree_size"].to_bytes(8, "big") + bytes.fromhex(sth["root_hash"])


# --- a log made by real API calls --------------------------------------------------------------


@pytest.fixture
def busy_log(client: FlaskClient, tokens: dict[str, str]) -> dict[str, Any]:
    """Issuance, exceptions, an approval, a rejection and a revocation."""
    add_range(client, tokens["admin"], "5.6.7.0/24")
    issued = [submit(client, tokens["requester"], csr_pem(ips=[f"5.6.7.{i}"])).get_json() for i in range(1, 4)]
    p1 = submit(client, tokens["requester"], csr_pem(ips=["10.0.0.1"])).get_json()
    p2 = submit(client, tokens["requester2"], csr_pem(ips=["10.0.0.2"])).get_json()
    ok = client.post(f"/api/v1/exceptions/{p1['exception']['id']}/approve", json={"reason": "lab host"}, headers=bearer(tokens["approver"]))
    assert ok.status_code == 200
    client.post(f"/api/v1/exceptions/{p2['exception']['id']}/reject", json={"reason": "no"}, headers=bearer(tokens["approver"]))
    revoked = client.post(f"/api/v1/certificates/{issued[0]['certificate']['serial_number']}/revoke",
                          json={"reason": "superseded"}, headers=bearer(tokens["admin"]))
    assert revoked.status_code == 200
    return {"issued": issued, "approved": p1, "rejected": p2}


def entries(client: FlaskClient, tokens: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    return client.get(f"/api/v1/audit?per_page=500{query}", headers=bearer(tokens["auditor"])).get_json()["items"]  # type: ignore[no-any-return]


def test_entries_hash_to_their_leaves_and_proofs_verify(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any]) -> None:
    sth = client.get("/api/v1/audit/sth").get_json()
    key = load_pem_public_key(client.get("/api/v1/audit/key").data)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(sth["signature"]), sth_signed_bytes(sth), ec.ECDSA(hashes.SHA256()))
    log = entries(client, tokens)
    assert [e["index"] for e in log] == list(range(sth["tree_size"]))
    root = bytes.fromhex(sth["root_hash"])
    for e in log:
        at = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
        assert event_leaf_hash(e["index"], e["event"], e["actor"], at, e["subject"], e["data"]).hex() == e["leaf_hash"]
        proof = client.get(f"/api/v1/audit/proof/inclusion?index={e['index']}&tree_size={sth['tree_size']}").get_json()
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert verify_inclusion(bytes.fromhex(e["leaf_hash"]), e["index"], sth["tree_size"], path, root)
        assert not verify_inclusion(bytes.fromhex(e["leaf_hash"]), (e["index"] + 1) % sth["tree_size"], sth["tree_size"], path, root)
    submit(client, tokens["requester"], csr_pem(cn="later.example.com"))
    later = client.get("/api/v1/audit/sth").get_json()
    assert later["tree_size"] > sth["tree_size"]
    proof = client.get(f"/api/v1/audit/proof/consistency?first={sth['tree_size']}&second={later['tree_size']}").get_json()
    hashes_ = [bytes.fromhex(h) for h in proof["consistency"]]
    assert verify_consistency(sth["tree_size"], later["tree_size"], root, bytes.fromhex(later["root_hash"]), hashes_)
    assert not verify_consistency(sth["tree_size"], later["tree_size"], hashlib.sha256(b"x").digest(),
                                  bytes.fromhex(later["root_hash"]), hashes_)


def test_bad_proof_arguments_are_400(client: FlaskClient) -> None:
    assert client.get("/api/v1/audit/proof/inclusion?index=5&tree_size=2").status_code == 400
    assert client.get("/api/v1/audit/proof/consistency?first=3&second=2").status_code == 400
    assert client.get("/api/v1/audit/proof/inclusion?index=x&tree_size=2").status_code == 400


def test_query_filters(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any]) -> None:
    issued = busy_log["issued"][1]
    by_event = entries(client, tokens, "&event=certificate:issued")
    assert len(by_event) == 4 and all(e["event"] == "certificate:issued" for e in by_event)
    assert {e["event"] for e in entries(client, tokens, "&event=exception:")} == {"exception:opened", "exception:approved", "exception:rejected"}
    assert {e["actor"] for e in entries(client, tokens, "&actor=carol")} == {"carol"}
    about_request = entries(client, tokens, f"&subject={issued['id']}")
    assert {e["event"] for e in about_request} == {"request:submitted", "certificate:issued"}
    about_serial = entries(client, tokens, f"&subject={issued['certificate']['serial_number']}")
    assert "certificate:issued" in {e["event"] for e in about_serial}
    about_ip = entries(client, tokens, "&subject=10.0.0.1")
    assert "request:submitted" in {e["event"] for e in about_ip}
    everything = entries(client, tokens)
    middle = quote(everything[len(everything) // 2]["at"])
    after = entries(client, tokens, f"&after={middle}")
    before = entries(client, tokens, f"&before={middle}")
    assert len(after) + len(before) == len(everything)
    page = client.get("/api/v1/audit?per_page=2&page=2", headers=bearer(tokens["auditor"])).get_json()
    assert [e["index"] for e in page["items"]] == [2, 3] and page["total"] == len(everything)


# --- tampering (SQLite file edited behind the service's back) --------------------------------


def sqlite_path(settings: Settings) -> str:
    return settings.database_url.removeprefix("sqlite:///")


def tamper(settings: Settings, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with sqlite3.connect(sqlite_path(settings)) as db:
        for sql, args in statements:
            db.execute(sql, args)


def verify(client: FlaskClient, tokens: dict[str, str]) -> dict[str, Any]:
    return client.get("/api/v1/audit/verify", headers=bearer(tokens["auditor"])).get_json()  # type: ignore[no-any-return]


sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_intact_log_verifies(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any]) -> None:
    result = verify(client, tokens)
    assert result["ok"] is True and result["tree_size"] > 10


def _index_of(client: FlaskClient, tokens: dict[str, str], event: str) -> int:
    return entries(client, tokens, f"&event={event}")[0]["index"]  # type: ignore[no-any-return]


@sqlite_only
def test_edited_reason_is_detected(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any], settings: Settings) -> None:
    index = _index_of(client, tokens, "exception:approved")
    tamper(settings, ("UPDATE audit_events SET data = replace(data, 'lab host', 'LAB HOST') WHERE \"index\" = ?", (index,)))
    result = verify(client, tokens)
    assert result["ok"] is False and result["first_bad_index"] == index


@sqlite_only
def test_deleted_event_is_detected(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any], settings: Settings) -> None:
    index = _index_of(client, tokens, "exception:rejected")
    tamper(settings, ("DELETE FROM audit_events WHERE \"index\" = ?", (index,)))
    result = verify(client, tokens)
    assert result["ok"] is False and result["first_bad_index"] == index


@sqlite_only
def test_swapped_rows_are_detected(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any], settings: Settings) -> None:
    a, b = 3, 6
    cols = "event, actor, at, subject, data, leaf_hash"
    with sqlite3.connect(sqlite_path(settings)) as db:
        ra = db.execute(f"SELECT {cols} FROM audit_events WHERE \"index\" = ?", (a,)).fetchone()
        rb = db.execute(f"SELECT {cols} FROM audit_events WHERE \"index\" = ?", (b,)).fetchone()
        sets = "event=?, actor=?, at=?, subject=?, data=?, leaf_hash=?"
        db.execute(f"UPDATE audit_events SET {sets} WHERE \"index\" = ?", (*rb, a))
        db.execute(f"UPDATE audit_events SET {sets} WHERE \"index\" = ?", (*ra, b))
    result = verify(client, tokens)
    assert result["ok"] is False and result["first_bad_index"] == a


@sqlite_only
def test_changed_certificate_pem_is_detected(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any], settings: Settings) -> None:
    one, other = busy_log["issued"][1]["certificate"], busy_log["issued"][2]["certificate"]
    tamper(settings, ("UPDATE certificates SET pem = ? WHERE serial_number = ?", (other["pem"], one["serial_number"])))
    result = verify(client, tokens)
    assert result["ok"] is False and one["serial_number"] in result["problem"]


@sqlite_only
def test_edit_with_recomputed_leaf_hash_is_caught_by_signed_head(client: FlaskClient, tokens: dict[str, str],
                                                                 busy_log: dict[str, Any], settings: Settings) -> None:
    client.get("/api/v1/audit/sth")  # publish a signed head over the whole log
    target = entries(client, tokens, "&event=exception:approved")[0]
    data = {**target["data"], "reason": "forged"}
    at = datetime.fromisoformat(target["at"].replace("Z", "+00:00"))
    leaf = event_leaf_hash(target["index"], target["event"], target["actor"], at, target["subject"], data).hex()
    import json

    tamper(settings, ("UPDATE audit_events SET data = ?, leaf_hash = ? WHERE \"index\" = ?", (json.dumps(data), leaf, target["index"])))
    result = verify(client, tokens)
    assert result["ok"] is False


@sqlite_only
def test_cli_verify_exits_1_naming_the_entry(client: FlaskClient, tokens: dict[str, str], busy_log: dict[str, Any], settings: Settings) -> None:
    env = {**os.environ, "CERTGATE_DATA_DIR": str(settings.data_dir), "CERTGATE_DATABASE_URL": settings.database_url}
    run = [sys.executable, "-m", "service.cli", "audit", "verify"]
    assert subprocess.run(run, env=env, capture_output=True, text=True).returncode == 0
    tamper(settings, ("DELETE FROM audit_events WHERE \"index\" = 4", ()))
    broken = subprocess.run(run, env=env, capture_output=True, text=True)
    assert broken.returncode == 1 and "entry 4" in broken.stderr
