"""The console in a real headless Chromium against a real `certgate serve`: the issue's scenarios, each ending in a screenshot."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from policies.config import DEFAULT_POLICY_PATH
from tests.e2e.browser import Console, chromium
from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.factories import csr_pem

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_approvals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose policy wants two approvals per exception."""
    tmp = tmp_path_factory.mktemp("two-approvals")
    policy = tmp / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace("approvals_required = 1", "approvals_required = 2"))
    server = start_server(tmp, workers=1, extra_env={"CERTGATE_POLICY_FILE": str(policy)},
                          token_keys=("requester", "approver", "approver2"))
    yield server
    stop_server(server)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh profile and download folder for each test's browsers."""
    yield tmp_path / "profile", tmp_path / "downloads"


def _console(server: LiveServer, where: tuple[Path, Path], width: int = 1100) -> Console:
    profile, downloads = where
    downloads.mkdir(exist_ok=True)
    return Console(chromium(profile, downloads, width=width), server.url, downloads)


def test_exception_from_preview_to_verified_certificate(live_server: LiveServer, browser: tuple[Path, Path]) -> None:
    web = _console(live_server, browser)
    try:
        web.sign_in(live_server.tokens["requester"])
        web.open("/console/submit")
        web.fill("f-csr", csr_pem(cn=None, ips=["9.9.9.9"]).decode())
        web.fill("f-justification", "public resolver test rig")
        web.click("//button[@value='preview']")
        web.wait_for(lambda: "Preview (nothing stored yet)" in web.page())
        assert "9.9.9.9 is not inside a range the organisation owns" in web.page() and "wait for approvers" in web.page()
        web.click("//button[@value='submit']")  # the form kept the CSR across the preview
        web.wait_for(lambda: "pending exception" in web.page())
        web.sign_out()

        web.sign_in(live_server.tokens["approver"])  # an approver lands on the queue
        # Oldest first: on the session's shared server an earlier test's exception may still wait above it.
        first = next(li for li in web.driver.find_elements(By.CSS_SELECTOR, "ol.queue > li") if "9.9.9.9" in li.text)
        assert "9.9.9.9" in first.text and "public resolver test rig" in first.text and "alice" in first.text
        first.find_element(By.CSS_SELECTOR, "h2 a").click()
        web.wait_for(lambda: "Why each address fails" in web.page())
        assert "public, but in no owned range" in web.page() and "SPKI SHA-256" in web.page()
        web.fill("f-reason", "approved for the resolver rig")
        web.click("//button[@value='approve']")
        web.wait_for(lambda: "cannot be decided again" in web.page())
        assert "approved" in web.page()
        web.sign_out()

        web.sign_in(live_server.tokens["requester"])
        web.open("/console/certificates")
        web.driver.find_element(By.CSS_SELECTOR, "table tbody a").click()
        web.wait_for(lambda: "Download" in web.page())
        pem = web.download("dl-pem")
        chain_file = web.download("dl-chain")
        der = web.download("dl-der")
        web.screenshot("requester-downloads-approved-certificate")
    finally:
        web.driver.quit()
    root = live_server.data_dir / "ca" / "root.pem"
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted", str(chain_file), str(pem)],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and f"{pem}: OK" in verified.stdout, verified.stderr
    assert chain_file.name.endswith("-chain.pem") and der.read_bytes().startswith(b"\x30")


def test_two_approvers_and_no_second_vote(two_approvals: LiveServer, browser: tuple[Path, Path]) -> None:
    status, body = two_approvals.call("POST", "/api/v1/requests", token=two_approvals.tokens["requester"],
                                      body={"csr": csr_pem(cn=None, ips=["9.9.9.9"]).decode(), "justification": "needs two"})
    assert status == 202 and isinstance(body, dict)
    review = body["exception"]["id"]
    web = _console(two_approvals, browser)
    try:
        web.sign_in(two_approvals.tokens["requester"])
        web.open("/console/queue")
        assert "Not allowed (403)" in web.page()
        web.sign_out()

        web.sign_in(two_approvals.tokens["approver"])
        web.open(f"/console/queue/{review}")
        web.fill("f-reason", "first of two")
        web.click("//button[@value='approve']")
        web.wait_for(lambda: "1 of 2 required" in web.page())
        assert "pending" in web.page()
        web.fill("f-reason", "and again")
        web.click("//button[@value='approve']")
        web.wait_for(lambda: "has decided on exception" in web.page())
        assert "1 of 2 required" in web.page()
        web.sign_out()

        web.sign_in(two_approvals.tokens["approver2"])
        web.open(f"/console/queue/{review}")
        web.fill("f-reason", "second of two")
        web.click("//button[@value='approve']")
        web.wait_for(lambda: "2 of 2 required" in web.page())
        assert "cannot be decided again" in web.page()
        web.screenshot("second-approver-issues")
    finally:
        web.driver.quit()
    status, body = two_approvals.call("GET", f"/api/v1/requests/{body['id']}", token=two_approvals.tokens["requester"])
    assert status == 200 and isinstance(body, dict) and body["status"] == "issued"


def test_auditor_verifies_the_log_and_a_proof(live_server: LiveServer, browser: tuple[Path, Path]) -> None:
    web = _console(live_server, browser)
    try:
        web.sign_in(live_server.tokens["auditor"])  # an auditor lands on the audit log
        web.click("//a[@id='verify-log']")
        web.wait_for(lambda: "Verify the whole log" in web.page())
        assert web.driver.find_element(By.ID, "verify-verdict").text.startswith("Intact:")
        web.open("/console/audit?event=token:created")
        web.driver.find_element(By.CSS_SELECTOR, "table tbody td a").click()
        web.wait_for(lambda: "Inclusion proof" in web.page())
        verdict = web.driver.find_element(By.ID, "proof-verdict").text
        assert verdict.startswith("Verified: this event is in the signed tree head")
        web.screenshot("auditor-inclusion-proof")
    finally:
        web.driver.quit()


def test_admin_adds_a_range_then_a_submission_issues_at_once(live_server: LiveServer, browser: tuple[Path, Path]) -> None:
    web = _console(live_server, browser)
    try:
        web.sign_in(live_server.tokens["admin"])
        web.open("/console/ranges")
        web.fill("f-cidr", "8.8.4.0/24")
        web.fill("f-owner", "resolvers")
        web.click("//button[text()='Add']")
        web.wait_for(lambda: "8.8.4.0/24 added." in web.page())
        web.sign_out()
        web.sign_in(live_server.tokens["requester"])
        web.open("/console/submit")
        web.fill("f-csr", csr_pem(cn=None, ips=["8.8.4.4"]).decode())
        web.click("//button[@value='submit']")
        web.wait_for(lambda: "Request " in web.page() and "Status" in web.page())
        assert "Issued: certificate" in web.page()
        web.screenshot("admin-range-then-issued")
    finally:
        web.driver.quit()


def test_readable_at_320_pixels(live_server: LiveServer, browser: tuple[Path, Path]) -> None:
    status, body = live_server.call("POST", "/api/v1/requests", token=live_server.tokens["requester"],
                                    body={"csr": csr_pem(cn=None, ips=["10.20.30.40"]).decode(), "justification": "narrow"})
    assert status == 202 and isinstance(body, dict)
    web = _console(live_server, browser, width=320)
    try:
        web.sign_in(live_server.tokens["approver"])
        for path in ("/console/policy", "/console/inventory", "/console/queue", f"/console/queue/{body['exception']['id']}"):
            web.open(path)
            width = web.driver.execute_script("return document.documentElement.scrollWidth")
            viewport = web.driver.execute_script("return document.documentElement.clientWidth")
            assert viewport == 320 and width <= viewport, (path, width, viewport)
        web.screenshot("exception-at-320px")
    finally:
        web.driver.quit()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`certgate serve --tls`: the console's cookie must be Secure, and its forms must still pass CSRF."""
    server = start_server(tmp_path_factory.mktemp("tls"), workers=1, serve_args=("--tls",), token_keys=("requester",))
    yield server
    stop_server(server)


def test_over_tls_the_cookie_is_secure_and_forms_work(tls_server: LiveServer, browser: tuple[Path, Path]) -> None:
    profile, downloads = browser
    downloads.mkdir(exist_ok=True)
    web = Console(chromium(profile, downloads, trust_any_certificate=True), tls_server.url, downloads)
    try:
        web.sign_in(tls_server.tokens["requester"])
        cookie = web.driver.get_cookie("certgate_console")
        assert cookie is not None and cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        web.open("/console/submit")
        web.fill("f-csr", csr_pem(cn=None, ips=["10.1.1.1"]).decode())
        web.click("//button[@value='preview']")  # a CSRF-checked POST over HTTPS (the Referer check included)
        web.wait_for(lambda: "Preview (nothing stored yet)" in web.page())
        web.screenshot("tls-preview")
    finally:
        web.driver.quit()
