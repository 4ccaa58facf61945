"""The console in a real browser (Debian's chromium, driven by selenium through chromium-driver).

The SZ branch admin logs in, approves a deletion the guards held, and sees it recorded; the next
cycle applies it.  Screenshots of the overview and the held page, in zh-CN and en, at laptop and
phone widths, are kept in test-artifacts/screenshots/ (git-ignored; the README shows one).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from devservers.demo import CONSOLE_ACCOUNTS, LEAVER
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.journal.store import Journal
from tests.test_web_process import console_config, lookup_slapd, start, wait_until_answering  # noqa: F401 - fixture

pytestmark = pytest.mark.servers
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "apt-get install chromium chromium-driver (scripts/bootstrap)"
    options = Options()
    options.binary_location = CHROMIUM
    # As root in a container; and no background traffic to Google (the machine's network is closed).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", "--lang=zh-CN"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def cycle(config: Path, now: str) -> None:
    assert main(["--config", str(config), "apply", "--now", now]) == 0


def shoot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(int(height) + 120, 600), 4000))
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(width, 900)


def test_a_branch_admin_approves_a_held_deletion_in_the_browser(tmp_path: Path, lookup_slapd: Slapd,
                                                                 browser: webdriver.Chrome) -> None:
    config, port = console_config(tmp_path, lookup_slapd)
    # The daemon's cycles, with its password back and every deletion waiting for an approval.
    (tmp_path / "ldap-password").write_text(lookup_slapd.admin_password + "\n", encoding="utf-8")
    (tmp_path / "ldap-password").chmod(0o600)
    text = config.read_text(encoding="utf-8").replace('bind_password_file = "/nonexistent/ldap"',
                                                      f'bind_password_file = "{tmp_path / "ldap-password"}"')
    config.write_text(text.replace("[guards]\n", "[guards]\napprove_deletions = true\n"), encoding="utf-8")
    for now in ("2026-12-01T09:00", "2027-01-16T09:00", "2027-04-17T09:00"):
        cycle(config, now)
    settings = load_settings(config, secrets=False)
    journal = Journal(settings.state.url)
    try:
        held = [h for h in journal.held_actions() if h["employee_id"] == LEAVER]
        assert [h["kind"] for h in held] == ["delete_account"] and held[0]["company"] == "SZ"
    finally:
        journal.close()

    console = start(config)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(console, base + "/login")
        uid, password, _ = CONSOLE_ACCOUNTS[1]  # the SZ branch admin
        browser.get(base + "/overview")
        WebDriverWait(browser, 15).until(expected_conditions.url_contains("/login"))
        browser.find_element(By.NAME, "username").send_keys(uid)
        browser.find_element(By.NAME, "password").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        WebDriverWait(browser, 15).until(expected_conditions.url_contains("/overview"))
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "SZ" in page and "GZ" not in page and "概览" in page  # Chinese by default, SZ alone
        shoot(browser, "console-overview-zh-CN")

        browser.get(f"{base}/people/{LEAVER}")  # what happens to 马超 and when
        timeline = browser.find_element(By.TAG_NAME, "main").text
        assert "马超" in timeline and "已离职" in timeline and "删除" in timeline
        shoot(browser, "console-person-zh-CN")

        browser.get(base + "/held")
        card = browser.find_element(By.CSS_SELECTOR, "article.held")
        assert LEAVER in card.text and "删除" in card.text
        shoot(browser, "console-held-zh-CN")
        card.find_element(By.NAME, "reason").send_keys("离职满90天, 邮件已归档")
        card.find_element(By.CSS_SELECTOR, "button.primary").click()
        WebDriverWait(browser, 15).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "article.held"))
        message = browser.find_element(By.ID, "message")
        assert message.is_displayed() and f"#{held[0]['id']}" in message.text

        for path, name in (("/overview", "console-overview-en"), ("/held", "console-held-en")):
            browser.get(f"{base}{path}?lang=en")
            assert "Overview" in browser.find_element(By.TAG_NAME, "nav").text
            shoot(browser, name)
        browser.set_window_size(390, 844)  # a phone
        browser.get(base + "/overview?lang=zh-CN")
        shoot(browser, "console-overview-phone-zh-CN")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone's screen"
    finally:
        console.send_signal(signal.SIGTERM)
        console.communicate(timeout=30)

    journal = Journal(settings.state.url)
    try:
        decided = [e for e in journal.entries(kind="approve")]
        assert len(decided) == 1 and decided[0].actor == uid and decided[0].origin == "console 127.0.0.1"
        assert decided[0].company == "SZ" and "离职满90天" in decided[0].reason
    finally:
        journal.close()
    cycle(config, "2027-04-17T10:00")  # the daemon's next cycle applies what the admin approved
    journal = Journal(settings.state.url)
    try:
        assert journal.person(LEAVER).status.value == "deleted"  # type: ignore[union-attr]
    finally:
        journal.close()
    assert all((ARTIFACTS / f"{name}.png").stat().st_size > 10_000 for name in (
        "console-overview-zh-CN", "console-held-zh-CN", "console-overview-en", "console-held-en"))
