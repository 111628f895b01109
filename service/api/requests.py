"""`/api/v1/requests`: submit a CSR (JSON or raw PKCS#10), dry-run it, read a request."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import jsonify, request
from flask.views import MethodView
from marshmallow import ValidationError

from service.api.docs import CertgateBlueprint, errors
from service.api.auth import ANY_ROLE, current_principal, require, runtime
from service.api.presenters import decision_body
from service.api.request_answer import answer_for
from service.api.schemas import DecisionSchema, RequestSchema, SubmitJsonSchema, SubmitQuerySchema
from service.domain import Role
from service.process.observability import ISSUANCE
from service.errors import BadRequest, MalformedCsr
from service.process.runtime import Runtime
from service.tokens import Principal
from service.usecases.read_requests import read_request
from service.usecases.submit import Submission, dry_run, submit_request

blp = CertgateBlueprint("requests", __name__, url_prefix="/api/v1/requests", description="Certificate requests")

RAW_TYPES = ("application/pkcs10", "application/x-pkcs10")
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_DOC = {"in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
                   "description": "a retry with the same key and body answers the first result again (kept 24 h)"}


def submission_from(mimetype: str, body: bytes, *, validity_days: int | None) -> Submission:
    """The submission in a body: raw PKCS#10 (PEM or DER) or the JSON wrapper.

    Raises:
        MalformedCsr: no CSR in the body.
        BadRequest: the JSON does not match the schema.
    """
    if mimetype in RAW_TYPES:
        return Submission(csr=body, validity_days=validity_days)
    if mimetype != "application/json":
        raise MalformedCsr("send JSON {\"csr\": PEM} or a raw CSR as application/pkcs10")
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise BadRequest("the body is not valid JSON") from exc
    return submission_of(data, default_validity=validity_days)


def issued_or_pending(rt: Runtime, submission: Submission, principal: Principal,
                      idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """Submit, and the answer's status (201 issued, 202 pending exception) and body."""
    started = time.perf_counter()
    record = submit_request(rt.db, rt.judge, rt.issuer, submission, principal, rt.clock(),
                            idempotency_key=idempotency_key)
    if record.certificate is None:
        return 202, answer_for(rt, record)
    ISSUANCE.observe(time.perf_counter() - started)
    return 201, answer_for(rt, record)


_SUBMIT_JSON = SubmitJsonSchema()


def submission_of(data: Any, *, default_validity: int | None = None) -> Submission:
    """A JSON submission `{"csr", "validity_days"?, "justification"?, "client_auth"?}`, read by
    the schema (a batch reads each of its items with this too).

    Raises:
        MalformedCsr: no CSR string in it.
        BadRequest: it does not match the schema.
    """
    try:
        loaded = _SUBMIT_JSON.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        if "csr" in messages:
            raise MalformedCsr("the JSON body needs a 'csr' string holding a PEM CSR") from exc
        raise BadRequest("the JSON body does not match the schema: " + str(messages)) from exc
    return Submission(
        csr=loaded["csr"].encode(),
        validity_days=loaded.get("validity_days", default_validity),
        justification=loaded.get("justification"),
        client_auth=loaded["client_auth"],
    )


@blp.route("")
class Requests(MethodView):
    @require(Role.REQUESTER, Role.ADMIN)
    @errors(400, 413, 422)
    @blp.arguments(SubmitQuerySchema, location="query")
    @blp.response(201, RequestSchema, description="issued")
    @blp.alt_response(202, schema=RequestSchema, description="pending exception")
    @blp.alt_response(200, schema=DecisionSchema, description="dry run: the decision, nothing stored")
    @blp.doc(parameters=[IDEMPOTENCY_DOC], requestBody={"content": {
        "application/json": {"schema": SubmitJsonSchema},
        "application/pkcs10": {"schema": {"type": "string", "format": "binary"}},
    }})
    def post(self, query: dict[str, Any]) -> Any:
        """Submit a CSR."""
        rt = runtime()
        submission = submission_from(request.mimetype, request.get_data(cache=False),
                                     validity_days=query.get("validity_days"))
        principal = current_principal()
        if query["dry_run"]:
            decision = dry_run(rt.db, rt.judge, submission, principal, rt.clock())
            return jsonify(DecisionSchema().dump(decision_body(decision)))
        status, answer = issued_or_pending(rt, submission, principal, request.headers.get(IDEMPOTENCY_HEADER))
        return jsonify(answer), status


@blp.route("/<string:request_id>")
class RequestById(MethodView):
    @require(*ANY_ROLE)
    @errors(404)
    @blp.response(200, RequestSchema)
    def get(self, request_id: str) -> Any:
        """A request, its decision, its certificate once issued."""
        rt = runtime()
        with rt.db.read() as session:
            record = read_request(session, request_id, current_principal())
        return jsonify(answer_for(rt, record))
