"""marshmallow schemas: the wire format of requests and answers (and of the OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, fields, validate

MAX_VALIDITY_DAYS_ACCEPTED = 3650  # larger values are refused by the schema, smaller ones by policy


class ViolationSchema(Schema):
    rule = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    subject = fields.String(required=True)


class SubmitJsonSchema(Schema):
    """`POST /api/v1/requests` with a JSON body."""

    csr = fields.String(required=True, validate=validate.Length(min=1), metadata={"description": "PEM CSR"})
    validity_days = fields.Integer(validate=validate.Range(min=1, max=MAX_VALIDITY_DAYS_ACCEPTED))
    justification = fields.String(validate=validate.Length(max=4000))
    client_auth = fields.Boolean(load_default=False, metadata={"description": "add the clientAuth EKU"})


class SubmitQuerySchema(Schema):
    dry_run = fields.Boolean(load_default=False)
    validity_days = fields.Integer(validate=validate.Range(min=1, max=MAX_VALIDITY_DAYS_ACCEPTED))


class CertificateBodySchema(Schema):
    serial_number = fields.String(metadata={"description": "lowercase hex, no colons"})
    pem = fields.String()
    chain_pem = fields.String(metadata={"description": "issuing CA then root"})
    issuing_ca = fields.Integer(metadata={"description": "the issuing CA generation that signed it (`certgate ca status`)"})
    not_before = fields.DateTime()
    not_after = fields.DateTime()
    sha256_fingerprint = fields.String()
    status = fields.String()
    revoked_at = fields.DateTime(allow_none=True)
    revocation_reason = fields.String(allow_none=True)


class ApprovalSchema(Schema):
    approver = fields.String()
    reason = fields.String()
    at = fields.DateTime()
    grant_days = fields.Integer(allow_none=True)


class ExceptionSchema(Schema):
    id = fields.String()
    request_id = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    requester = fields.String()
    violations = fields.List(fields.Nested(ViolationSchema))
    approvals = fields.List(fields.Nested(ApprovalSchema))
    rejection = fields.Nested(ApprovalSchema, allow_none=True)
    approvals_required = fields.Integer()
    csr_sha256 = fields.String()
    policy_version = fields.String()


class RequestSchema(Schema):
    """The answer for one request."""

    id = fields.String()
    status = fields.String()
    requester = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    common_name = fields.String(allow_none=True)
    named_ips = fields.List(fields.String())
    validity_days = fields.Integer()
    policy_version = fields.String()
    csr_sha256 = fields.String()
    grant_id = fields.String(allow_none=True)
    violations = fields.List(fields.Nested(ViolationSchema))
    waived = fields.List(fields.Nested(ViolationSchema))
    certificate = fields.Nested(CertificateBodySchema)
    exception = fields.Nested(ExceptionSchema)


class BatchSchema(Schema):
    """`POST /api/v1/batches` (documentation only: each item is read on its own, so one bad item
    is answered as such and never spoils the batch)."""

    items = fields.List(fields.Nested(SubmitJsonSchema), required=True,
                        metadata={"description": "1 to 1,000 submissions"})


class BatchItemSchema(RequestSchema):
    """One item's answer: the request answer (issued, pending exception, stored refusal) and, when
    refused, the error body; an item that is not a CSR has the status `rejected` and the error only."""

    error = fields.Nested(lambda: ErrorBodySchema())


class BatchAnswerSchema(Schema):
    items = fields.List(fields.Nested(BatchItemSchema), metadata={"description": "one per item, in order"})


class DecisionSchema(Schema):
    """The answer of a dry run."""

    verdict = fields.String()
    status = fields.String(metadata={"description": "the status a submission would get"})
    violations = fields.List(fields.Nested(ViolationSchema))
    waived = fields.List(fields.Nested(ViolationSchema))
    grant_id = fields.String(allow_none=True)
    policy_version = fields.String()
    validity_days = fields.Integer()
    named_ips = fields.List(fields.String())


class PolicySchema(Schema):
    version = fields.String()
    policy = fields.Dict()
    source = fields.String()
    cabf_max_validity_days = fields.Integer()
    address_rule = fields.String(metadata={"description": "which IPs are public: baseline-requirements or globally-reachable"})
    names = fields.Dict(metadata={"description": "the DNS-name rules in force: limit, CAA, the Public Suffix List used"})


# Times a query may name: one day inside datetime's range, so converting any offset to UTC cannot overflow.
TIME_BOUNDS = validate.Range(min=datetime(1, 1, 2, tzinfo=UTC), max=datetime(9999, 12, 30, tzinfo=UTC))
MAX_PAGE = 2**31 - 1  # keeps (page - 1) * per_page inside a 64-bit SQL OFFSET


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ErrorBodySchema(Schema):
    code = fields.String()
    message = fields.String()
    violations = fields.List(fields.Nested(ViolationSchema))
    request_id = fields.String(metadata={"description": "policy refusals: the stored, rejected request"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema)


class DecideSchema(Schema):
    """Body of approve and reject."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    grant_days = fields.Integer(validate=validate.Range(min=1), metadata={"description": "approve only: renewal grant"})


class ExceptionQuerySchema(PageQuerySchema):
    status = fields.String(load_default="pending", validate=validate.OneOf(["pending", "approved", "rejected", "expired", "withdrawn", "all"]))


class ExceptionPageSchema(Schema):
    items = fields.List(fields.Nested(ExceptionSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class RangeCreateSchema(Schema):
    cidr = fields.String(required=True, validate=validate.Length(min=1, max=50))
    owner = fields.String(load_default="", validate=validate.Length(max=200))


class RangeSchema(Schema):
    id = fields.Integer()
    cidr = fields.String()
    owner = fields.String()
    created_at = fields.DateTime()
    created_by = fields.String()


class RangePageSchema(Schema):
    items = fields.List(fields.Nested(RangeSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class LookupQuerySchema(Schema):
    ip = fields.String(required=True)


class LookupSchema(Schema):
    ip = fields.String()
    globally_reachable = fields.Boolean(metadata={"description": "the registries' globally-reachable column"})
    public = fields.Boolean(metadata={"description": "public under the policy's address rule"})
    reason = fields.String(allow_none=True, metadata={"description": "why it is not public, naming the registry entry"})
    special_purpose_block = fields.Dict(allow_none=True)
    owned = fields.Boolean()
    range = fields.Dict(allow_none=True)
    verdict = fields.String(metadata={"description": "ok, ip_not_public or ip_not_owned"})


class InventoryQuerySchema(PageQuerySchema):
    ip = fields.String(metadata={"description": "an address or a CIDR"})
    dns = fields.String(metadata={"description": "exact name, or *.suffix / .suffix"})
    serial = fields.String()
    status = fields.String(validate=validate.OneOf(["valid", "expired", "revoked"]))
    requester = fields.String()
    issued_after = fields.AwareDateTime(default_timezone=UTC, validate=TIME_BOUNDS)
    issued_before = fields.AwareDateTime(default_timezone=UTC, validate=TIME_BOUNDS)
    expiring_within_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    domain = fields.String(validate=validate.Length(max=253), metadata={"description": "certificates naming this domain or a name under it"})
    owner = fields.String(validate=validate.Length(max=200), metadata={"description": "certificates naming a name under a domain this owner owns"})
    issuing_ca = fields.Integer(validate=validate.Range(min=1, max=32767),
                                metadata={"description": "only certificates this issuing CA generation signed"})


class InventoryItemSchema(CertificateBodySchema):
    request_id = fields.String()
    requester = fields.String()
    common_name = fields.String(allow_none=True)


class InventoryPageSchema(Schema):
    items = fields.List(fields.Nested(InventoryItemSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class RevokeSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"]))


class AuditQuerySchema(PageQuerySchema):
    event = fields.String(metadata={"description": "e.g. certificate:issued, or exception: for all"})
    actor = fields.String()
    subject = fields.String(metadata={"description": "request id, serial, IP, or a full subject"})
    after = fields.AwareDateTime(default_timezone=UTC, validate=TIME_BOUNDS)
    before = fields.AwareDateTime(default_timezone=UTC, validate=TIME_BOUNDS)


class AuditEntrySchema(Schema):
    index = fields.Integer()
    leaf_hash = fields.String()
    event = fields.String()
    actor = fields.String()
    at = fields.String()
    subject = fields.String()
    data = fields.Dict()


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AuditVerifySchema(Schema):
    ok = fields.Boolean()
    tree_size = fields.Integer()
    first_bad_index = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)


class TreeHeadSchema(Schema):
    tree_size = fields.Integer()
    root_hash = fields.String()
    timestamp = fields.String()
    signature = fields.String()
    key_id = fields.String()


class InclusionQuerySchema(Schema):
    index = fields.Integer(required=True, validate=validate.Range(min=0))
    tree_size = fields.Integer(required=True, validate=validate.Range(min=1))


class InclusionSchema(Schema):
    leaf_index = fields.Integer()
    tree_size = fields.Integer()
    leaf_hash = fields.String()
    audit_path = fields.List(fields.String())


class ConsistencyQuerySchema(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1))
    second = fields.Integer(required=True, validate=validate.Range(min=1))


class ConsistencySchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    consistency = fields.List(fields.String())
