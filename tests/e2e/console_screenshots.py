"""Make the README's console screenshots: `python -m tests.e2e.console_screenshots docs/` (a real server, headless Chromium)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.e2e.browser import Console, chromium
from tests.e2e.conftest import start_server, stop_server
from tests.factories import csr_pem

EXAMPLES = [  # (requester token key, addresses, justification)
    ("requester", ["10.40.0.12"], "Lab switch management interface; internal only, replaced in Q3."),
    ("requester2", ["192.0.2.50"], "Documentation box for the partner demo."),
    ("requester", ["9.9.9.9", "10.40.0.13"], "Resolver test rig: public anycast and its lab twin."),
]


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), workers=1)
        try:
            server.call("POST", "/api/v1/ranges", token=server.tokens["admin"], body={"cidr": "9.9.8.0/24", "owner": "dns-team"})
            for key, ips, why in EXAMPLES:
                server.call("POST", "/api/v1/requests", token=server.tokens[key],
                            body={"csr": csr_pem(cn=None, ips=ips).decode(), "justification": why})
            Path(tmp, "downloads").mkdir()
            web = Console(chromium(Path(tmp) / "profile", Path(tmp) / "downloads", width=900, height=640), server.url,
                          Path(tmp) / "downloads")
            try:
                web.sign_in(server.tokens["approver"])
                web.driver.save_screenshot(str(target / "console-queue.png"))
                web.driver.find_elements(By.CSS_SELECTOR, "ol.queue > li h2 a")[-1].click()
                web.wait_for(lambda: "Why each address fails" in web.page())
                web.driver.save_screenshot(str(target / "console-exception.png"))
            finally:
                web.driver.quit()
        finally:
            stop_server(server)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
