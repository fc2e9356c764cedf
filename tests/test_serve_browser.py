"""The search page in a real browser: headless Chromium types a query, submits, and must show
Ezekiel 36:26 with its text and why it matched. Skipped (with the reason) when Chromium,
chromedriver or selenium are missing; ``.ci/run`` installs them. With ``VERSEBERT_UPDATE_SCREENSHOT=1``
the screenshot also replaces the README's ``docs/serve-screenshot.png``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from tests.serve_support import serving, tiny_searcher  # noqa: E402
from versebert.server.app import create_app  # noqa: E402

pytestmark = pytest.mark.browser

CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "serve-screenshot.png"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1100,900")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    binary = chromium_binary()
    if binary is None or not CHROMEDRIVER.is_file():
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_typing_a_query_and_submitting_shows_ezekiel(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with serving(create_app(tiny_searcher())) as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30)
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#translation option")))
        box = browser.find_element(By.ID, "q")
        box.send_keys("give you a new heart", Keys.ENTER)
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
        hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
        first = hits[0]
        assert first.find_element(By.CLASS_NAME, "ref").text == "Ezekiel 36:26"
        assert first.get_attribute("data-verse-id") == "26036026"
        assert first.find_element(By.CLASS_NAME, "text").text.startswith("I will also give you a new heart")
        assert "words WEB #1" in first.find_element(By.CLASS_NAME, "why").text
        assert "?q=give+you+a+new+heart" in browser.current_url  # the search can be bookmarked
        browser.save_screenshot(str(tmp_path / "search.png"))

        box.clear()
        box.send_keys("   ", Keys.ENTER)  # nothing to search: the list empties, no error
        wait.until(lambda driver: not driver.find_elements(By.CSS_SELECTOR, "li.hit"))

        browser.get(url + "/?q=" + "x" * 1001)  # over the limit via the address: the API's message shows
        wait.until(expected_conditions.visibility_of_element_located((By.ID, "error")))
        assert "the limit is 1,000" in browser.find_element(By.ID, "error").text

    assert (tmp_path / "search.png").stat().st_size > 0
    if os.environ.get("VERSEBERT_UPDATE_SCREENSHOT"):  # opt-in: a test run leaves tracked files alone
        shutil.copyfile(tmp_path / "search.png", SCREENSHOT)
