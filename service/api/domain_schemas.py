"""Wire shapes of the owned-domain registry (`/api/v1/domains`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import PageQuerySchema


class DomainCreateSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(min=1, max=253))
    owner = fields.String(load_default="", validate=validate.Length(max=200))


class DomainSchema(Schema):
    id = fields.Integer()
    domain = fields.String()
    owner = fields.String()
    created_at = fields.DateTime()
    created_by = fields.String()


class DomainPageQuerySchema(PageQuerySchema):
    owner = fields.String(validate=validate.Length(max=200))


class DomainPageSchema(Schema):
    items = fields.List(fields.Nested(DomainSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class NameLookupQuerySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))


class NameLookupSchema(Schema):
    name = fields.String()
    owned = fields.Boolean()
    domain = fields.Dict(allow_none=True)
    verdict = fields.String(metadata={"description": "ok, dns_not_owned or name_not_allowed"})
    message = fields.String(allow_none=True)
