"""A headless Debian Chromium driven by Selenium, for the console's browser tests (no network, fresh profile)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts" / "console"
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def chromium(profile: Path, downloads: Path, width: int = 1100, height: int = 800, *,
             trust_any_certificate: bool = False) -> WebDriver:
    """A new headless Chromium with a fresh profile that saves downloads into `downloads`.

    `trust_any_certificate` is for `serve --tls` tests: the server's certificate is from its own
    fresh CA, which this throwaway profile does not know.
    """
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    extra = ("--ignore-certificate-errors",) if trust_any_certificate else ()
    for arg in (*CHROMIUM_ARGS, *extra, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    # A window is never narrower than ~500 px; the page's own viewport can be, as on a phone.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    return browser


class Console:
    """One browser on the console: sign in and out, fill forms, wait for what a page says."""

    def __init__(self, driver: WebDriver, base_url: str, downloads: Path) -> None:
        self.driver = driver
        self.base = base_url
        self.downloads = downloads

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def sign_in(self, token: str) -> None:
        """Sign in with the keyboard alone: type the token, press Enter."""
        self.open("/console/sign-in")
        field = self.driver.find_element(By.ID, "f-token")
        field.send_keys(token)
        field.send_keys(Keys.ENTER)
        self.wait_for(lambda: "Sign out" in self.page())

    def sign_out(self) -> None:
        self.driver.find_element(By.XPATH, "//button[text()='Sign out']").click()
        self.wait_for(lambda: "You are signed out." in self.page())

    def fill(self, field_id: str, value: str) -> None:
        element = self.driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)

    def click(self, xpath: str) -> None:
        self.driver.find_element(By.XPATH, xpath).click()

    def page(self) -> str:
        """The page's text; empty while a navigation replaces the document under us."""
        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except (StaleElementReferenceException, NoSuchElementException):
            return ""

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self._holds(condition):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on {self.driver.current_url}:\n{self.page()}")
            time.sleep(0.1)

    @staticmethod
    def _holds(condition: Callable[[], bool]) -> bool:
        try:
            return condition()
        except (StaleElementReferenceException, NoSuchElementException):
            return False  # the next page is still loading

    def download(self, link_id: str) -> Path:
        """Click a download link and wait for the finished file (Chromium names it from the answer)."""
        before = set(self.downloads.iterdir())
        self.driver.find_element(By.ID, link_id).click()
        fresh: list[Path] = []

        def finished() -> bool:
            fresh[:] = [p for p in self.downloads.iterdir() if p not in before and not p.name.endswith(".crdownload") and not p.name.startswith(".")]
            return bool(fresh) and fresh[0].stat().st_size > 0

        self.wait_for(finished)
        return fresh[0]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path
