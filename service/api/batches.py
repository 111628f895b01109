"""`/api/v1/batches`: many CSRs in one call, each answered as its own submission would be."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView

from service.api.auth import current_principal, require, runtime
from service.api.docs import CertgateBlueprint, errors
from service.api.request_answer import request_answer
from service.api.requests import IDEMPOTENCY_DOC, IDEMPOTENCY_HEADER, submission_of
from service.api.schemas import BatchAnswerSchema, BatchSchema
from service.domain import Role
from service.errors import BadRequest, CertgateError, PayloadTooLarge
from service.idempotency import IdempotencyKey
from service.usecases.batch import BATCH_SCOPE, MAX_BATCH_ITEMS, ItemResult, submit_batch
from service.usecases.submit import Submission

blp = CertgateBlueprint("batches", __name__, url_prefix="/api/v1/batches", description="Batch issuance")


def _items(limit: int) -> tuple[list[Any], list[Submission | CertgateError]]:
    """The batch's items as sent and each read on its own: an unreadable item becomes its error.

    Raises:
        PayloadTooLarge: the body is over `limit` bytes, or holds more than MAX_BATCH_ITEMS items.
        BadRequest: the body is not JSON `{"items": [...]}` with at least one item.
    """
    request.max_content_length = limit  # the batch's own limit, in place of the API's 64 KiB
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a batch is at most {limit} bytes")
    if request.mimetype != "application/json":
        raise BadRequest('send JSON {"items": [{"csr": PEM, ...}, ...]}')
    try:
        data = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise BadRequest("the body is not valid JSON") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or set(data) != {"items"}:
        raise BadRequest('the body must be {"items": [...]} with at least one item and nothing else')
    if len(items) > MAX_BATCH_ITEMS:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {len(items)}")
    return items, [_item(raw) for raw in items]


def _item(raw: Any) -> Submission | CertgateError:
    try:
        return submission_of(raw)
    except CertgateError as exc:
        return exc


def _answers(results: list[ItemResult]) -> list[dict[str, Any]]:
    """Each item: the request answer, plus the error body when it was refused (as the single
    submission's error answer has it)."""
    rt = runtime()
    chain_pem, now, required = rt.ca.chain_pem, rt.clock(), rt.judge.policy.reviews.approvals_required
    answers = []
    for result in results:
        body: dict[str, Any] = {"status": "rejected"}
        if result.record is not None:
            body = request_answer(result.record, chain_pem=chain_pem, now=now, approvals=result.approvals,
                                  approvals_required=required)
        if result.error is not None:
            body["error"] = result.error
        answers.append(body)
    return answers


@blp.route("")
class Batches(MethodView):
    @require(Role.REQUESTER, Role.ADMIN)
    @errors(400, 409, 413, 422)
    @blp.response(200, BatchAnswerSchema, description="one answer per item, in order")
    @blp.doc(parameters=[IDEMPOTENCY_DOC], requestBody={"content": {"application/json": {"schema": BatchSchema}}})
    def post(self) -> Any:
        """Submit up to 1,000 CSRs, each judged as a single submission."""
        rt = runtime()
        sent, items = _items(rt.settings.max_batch_bytes)
        principal = current_principal()
        header = request.headers.get(IDEMPOTENCY_HEADER)
        key = None if header is None else IdempotencyKey.of(principal.name, BATCH_SCOPE, header, {"items": sent})
        results = submit_batch(rt.db, rt.judge, rt.issuer, items, principal, rt.clock, key=key)
        answer: Response = jsonify({"items": _answers(results)})
        return answer
