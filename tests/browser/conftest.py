"""Browser tests: headless Chromium (Debian's `chromium` + `chromium-driver`, installed by `make test-browser`)
driven by Selenium against the console in front of the real services on the real broker (the e2e fixtures).

Screenshots of the pages go to $SCREENSHOTS_DIR when set (`make screenshots`: services/console/docs), else to the
test's temporary directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import backend  # noqa: F401
from tests.integration.conftest import produce, settings, token  # noqa: F401

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 800  # the advisors' desktop


@pytest.fixture
def browser() -> Iterator[object]:
    binary = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no chromium/chromedriver on this machine: `make test-browser` installs Debian's chromium and "
                    "chromium-driver (apt-get); it could not here")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
