"""OpenAPI documentation of error answers: every status a view can answer is listed by it."""

from __future__ import annotations

import http
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar, cast

from flask_smorest import Blueprint
from flask_smorest.arguments import ArgumentsMixin
from marshmallow import Schema

from service.api.schemas import ErrorSchema

F = TypeVar("F", bound=Callable[..., Any])


class _Parser(ArgumentsMixin.ARGUMENTS_PARSER.__class__):  # type: ignore[misc]
    """webargs' parser with the status certgate answers for bad arguments: 400, not 422."""

    DEFAULT_VALIDATION_STATUS = 400


class CertgateBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose argument errors are documented (and answered) as 400."""

    ARGUMENTS_PARSER = _Parser()

    def arguments(self, schema: type[Schema] | Schema, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's, with the schema instantiated once here: given a class, webargs
        would build a new instance (deep copies of every field) on every request."""
        instance = schema() if isinstance(schema, type) else schema
        return cast(Callable[[F], F], super().arguments(instance, *args, **kwargs))

    # flask-smorest ships no type hints: these give its decorators the signature they have.
    def response(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's (typed)."""
        return cast(Callable[[F], F], super().response(*args, **kwargs))

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's (typed)."""
        return cast(Callable[[F], F], super().alt_response(*args, **kwargs))

    def doc(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """As flask-smorest's (typed)."""
        return cast(Callable[[F], F], super().doc(*args, **kwargs))


def errors(*codes: int) -> Callable[[F], F]:
    """Document that a view answers `codes` with the contract's error body."""

    def decorate(view: F) -> F:
        doc = deepcopy(getattr(view, "_apidoc", {}))
        responses = doc.setdefault("response", {}).setdefault("responses", {})
        for code in codes:
            if code not in responses:
                responses[code] = [{"schema": ErrorSchema(), "description": http.HTTPStatus(code).phrase,
                                    "content_type": None}]
        view._apidoc = doc  # type: ignore[attr-defined]
        return view

    return decorate
