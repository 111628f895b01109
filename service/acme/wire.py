"""The ACME wire format: resource bodies (RFC 8555 §7.1) and the URLs they link to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.acme.challenges import AuthzView
from service.acme.orders import OrderView
from service.db.acme_models import AcmeAccount, AcmeChallenge


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC, whole seconds."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Urls:
    """Every URL of the ACME edge, under the base the client reached it at."""

    def __init__(self, base: str) -> None:
        self.base = base

    def directory(self) -> dict[str, str]:
        """The directory's resource URLs."""
        return {"newNonce": f"{self.base}/new-nonce", "newAccount": f"{self.base}/new-account",
                "newOrder": f"{self.base}/new-order", "revokeCert": f"{self.base}/revoke-cert",
                "keyChange": f"{self.base}/key-change", "renewalInfo": f"{self.base}/renewal-info"}

    @property
    def accounts(self) -> str:
        """The prefix of account URLs (kid values)."""
        return f"{self.base}/acct/"

    def account(self, account_id: str) -> str:
        """An account's URL (its kid)."""
        return self.accounts + account_id

    def order(self, order_id: str) -> str:
        """An order's URL."""
        return f"{self.base}/order/{order_id}"

    def authz(self, authz_id: str) -> str:
        """An authorization's URL."""
        return f"{self.base}/authz/{authz_id}"

    def challenge(self, challenge_id: str) -> str:
        """A challenge's URL."""
        return f"{self.base}/chall/{challenge_id}"

    def certificate(self, serial: str) -> str:
        """A certificate's download URL."""
        return f"{self.base}/cert/{serial}"


def account_body(urls: Urls, account: AcmeAccount) -> dict[str, Any]:
    """An account object."""
    return {"status": account.status, "contact": account.contact, "orders": urls.account(account.id) + "/orders",
            "createdAt": timestamp(account.created_at)}


def order_body(urls: Urls, view: OrderView) -> dict[str, Any]:
    """An order object."""
    body: dict[str, Any] = {
        "status": view.status,
        "expires": timestamp(view.order.expires_at),
        "identifiers": view.order.identifiers,
        "authorizations": [urls.authz(a) for a in view.authz_ids],
        "finalize": urls.order(view.order.id) + "/finalize",
    }
    if view.certificate_serial is not None:
        body["certificate"] = urls.certificate(view.certificate_serial)
    if view.error is not None:
        body["error"] = view.error
    if view.order.replaces:
        body["replaces"] = view.order.replaces
    return body


def challenge_body(urls: Urls, challenge: AcmeChallenge) -> dict[str, Any]:
    """A challenge object."""
    body: dict[str, Any] = {"type": challenge.type, "url": urls.challenge(challenge.id), "status": challenge.status,
                            "token": challenge.token}
    if challenge.validated_at is not None and challenge.status == "valid":
        body["validated"] = timestamp(challenge.validated_at)
    if challenge.error is not None:
        body["error"] = challenge.error
    return body


def authz_body(urls: Urls, view: AuthzView) -> dict[str, Any]:
    """An authorization object."""
    challenges = view.challenges
    if view.status == "valid":
        challenges = tuple(c for c in challenges if c.status == "valid")
    return {"status": view.status, "expires": timestamp(view.authz.expires_at),
            "identifier": {"type": view.authz.kind, "value": view.authz.value},
            "challenges": [challenge_body(urls, c) for c in challenges]}
