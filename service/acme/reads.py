"""The reads every ACME request makes (its account; a polled authorization; a download), as direct statements."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, select
from sqlmodel import SQLModel

from service.db.acme_models import AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder
from service.db.direct import DirectUnit
from service.db.models import Certificate, CertificateRequest, table_of

M = TypeVar("M", bound=SQLModel)
_ACCOUNTS, _AUTHZ, _CHALLENGES, _ORDERS = (table_of(m) for m in (AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder))
_ACCOUNT = select(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("id"))
_AUTHZ_AND_OWNER = (select(_AUTHZ, _ORDERS.c.account_id.label("owner"))
                    .join(_ORDERS, _ORDERS.c.id == _AUTHZ.c.order_id).where(_AUTHZ.c.id == bindparam("id")))
_ORDER = select(_ORDERS).where(_ORDERS.c.id == bindparam("id"))
_AUTHZ_IDS = select(_AUTHZ.c.id).where(_AUTHZ.c.order_id == bindparam("id")).order_by(_AUTHZ.c.value)
_REQUESTS, _CERTIFICATES = table_of(CertificateRequest), table_of(Certificate)
_REQUEST_OUTCOME = (select(_REQUESTS.c.status, _CERTIFICATES.c.serial_number)
                    .outerjoin(_CERTIFICATES, _CERTIFICATES.c.request_id == _REQUESTS.c.id)
                    .where(_REQUESTS.c.id == bindparam("id")))
_CHALLENGE = select(_CHALLENGES).where(_CHALLENGES.c.id == bindparam("id"))
_TO_VALIDATE = (select(_CHALLENGES.c.id, _CHALLENGES.c.type, _AUTHZ.c.kind, _AUTHZ.c.value, _CHALLENGES.c.token, _ACCOUNTS.c.thumbprint)
                .join(_AUTHZ, _AUTHZ.c.id == _CHALLENGES.c.authz_id).join(_ORDERS, _ORDERS.c.id == _AUTHZ.c.order_id)
                .join(_ACCOUNTS, _ACCOUNTS.c.id == _ORDERS.c.account_id).where(_CHALLENGES.c.id == bindparam("id")))
_DOWNLOAD = (select(_CERTIFICATES.c.pem, _CERTIFICATES.c.requester, _CERTIFICATES.c.issuer_ca)
             .where(_CERTIFICATES.c.serial_number == bindparam("serial")))
_CHALLENGES_OF = select(_CHALLENGES).where(_CHALLENGES.c.authz_id == bindparam("id")).order_by(_CHALLENGES.c.type)


def _row(model: type[M], table: Table, values: tuple[Any, ...]) -> M:
    """A row built unvalidated (every value comes from the database)."""
    return model.model_construct(**dict(zip(table.c.keys(), values)))


def account_by_id(reads: DirectUnit, account_id: str) -> AcmeAccount | None:
    """The account with this id."""
    found = reads.first(_ACCOUNT, {"id": account_id})
    return None if found is None else _row(AcmeAccount, _ACCOUNTS, found)


def authz_with_owner(reads: DirectUnit, authz_id: str) -> tuple[AcmeAuthorization, str] | None:
    """An authorization and the id of the account whose order it belongs to."""
    found = reads.first(_AUTHZ_AND_OWNER, {"id": authz_id})
    return None if found is None else (_row(AcmeAuthorization, _AUTHZ, found[:-1]), str(found[-1]))


def challenges_of(reads: DirectUnit, authz_id: str) -> tuple[AcmeChallenge, ...]:
    """An authorization's challenges, by type."""
    return tuple(_row(AcmeChallenge, _CHALLENGES, r) for r in reads.rows(_CHALLENGES_OF, {"id": authz_id}))


def challenge_by_id(reads: DirectUnit, challenge_id: str) -> AcmeChallenge | None:
    """The challenge with this id."""
    found = reads.first(_CHALLENGE, {"id": challenge_id})
    return None if found is None else _row(AcmeChallenge, _CHALLENGES, found)


def validation_input(reads: DirectUnit, challenge_id: str) -> tuple[str, str, str, str, str, str]:
    """(challenge id, challenge type, identifier kind, identifier value, token, account key thumbprint)."""
    found = reads.first(_TO_VALIDATE, {"id": challenge_id})
    assert found is not None  # foreign keys: a claimed challenge has all of these
    return found[0], found[1], found[2], found[3], found[4], found[5]


def order_by_id(reads: DirectUnit, order_id: str) -> AcmeOrder | None:
    """The order with this id."""
    found = reads.first(_ORDER, {"id": order_id})
    return None if found is None else _row(AcmeOrder, _ORDERS, found)


def authz_ids_of(reads: DirectUnit, order_id: str) -> tuple[str, ...]:
    """An order's authorization ids, by identifier value."""
    return tuple(str(r[0]) for r in reads.rows(_AUTHZ_IDS, {"id": order_id}))


def request_outcome(reads: DirectUnit, request_id: str) -> tuple[str, str | None]:
    """(request status, certificate serial or None) of a finalized order's request."""
    found = reads.first(_REQUEST_OUTCOME, {"id": request_id})
    assert found is not None  # the order's request exists
    return str(found[0]), found[1]


def certificate_download(reads: DirectUnit, serial: str) -> tuple[str, str, int] | None:
    """(PEM, requester, issuing CA generation) of the certificate with this serial number."""
    found = reads.first(_DOWNLOAD, {"serial": serial})
    return None if found is None else (str(found[0]), str(found[1]), int(found[2]))
