"""`/docs` works without internet access: Swagger UI's files are served by certgate itself."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def test_the_docs_page_loads_only_local_assets(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs/swagger-ui/") for a in assets), assets
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.mimetype in ("text/javascript", "application/javascript", "text/css"), (asset, answer.mimetype)
        assert len(answer.get_data()) > 1000


def test_nothing_outside_the_bundle_is_served(client: FlaskClient) -> None:
    for path in ("/docs/swagger-ui/../__init__.py", "/docs/swagger-ui/%2e%2e/__init__.py", "/docs/swagger-ui/nope.js"):
        assert client.get(path).status_code == 404, path
