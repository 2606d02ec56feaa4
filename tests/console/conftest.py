"""Fixtures for the console's browser tests: a real `memfs serve` process on a free loopback port
over a temporary database, Debian's chromium driven headless by Selenium through Debian's
chromedriver (never a downloaded browser), a seeded store with a dream proposal, and screenshots
saved as artefacts ($MEMFS_ARTEFACTS, default test-artifacts/console/).

Without chromium the tests skip, except in CI (CI=true), where they must run."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from consoleworld import seed

CHROMIUM = os.environ.get("MEMFS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MEMFS_CHROMEDRIVER", "/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("MEMFS_ARTEFACTS") or ROOT / "test-artifacts" / "console")
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]
WAIT = 10


def _missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            return f"{p} is missing (scripts/setup-system installs chromium and chromium-driver)"
    return ""


@pytest.fixture(scope="session")
def driver():
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the console tests must run in CI: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-extensions", "--disable-sync",
                 "--disable-component-update", "--disable-default-apps", "--no-first-run",
                 "--metrics-recording-only", "--disable-features=Translate,MediaRouter,OptimizationHints",
                 "--window-size=1360,900", "--force-device-scale-factor=1", "--lang=en-US"):
        opts.add_argument(flag)
    # Service with an explicit chromedriver: Selenium Manager never runs (no network)
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(WAIT)
    yield d
    d.quit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`memfs serve` in a subprocess; `log` is what it printed."""

    def __init__(self, db_path, tmp_path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "serve.log"
        env = {**os.environ, "MEMFS_DB": str(db_path), "MEMFS_DREAM_ENGINE": "local"}
        self.proc = subprocess.Popen([*MEMFS, "serve", "--port", str(self.port), "--log-level", "warning"],
                                     env=env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/console/app.js", timeout=2).read()
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, self.log
                time.sleep(0.05)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def served(m, db_path, tmp_path):
    """The server over the test's database (created and migrated by `m` first). Fails the test
    if the server printed a traceback or an error."""
    s = Served(db_path, tmp_path)
    yield s
    s.stop()
    assert "Traceback" not in s.log and "ERROR" not in s.log, s.log


@pytest.fixture
def world(m, store):
    """team-sre with two agents' notes, a dream proposal, a conflict; org (consoleworld.seed)."""
    return seed(m, store)


@pytest.fixture(scope="session")
def artefacts():
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


@pytest.fixture
def page(driver, served, artefacts, request):
    """The console in the browser: page.open('#/…'), page.wait(css), page.shot(name)."""
    p = Page(driver, served.url, artefacts, request.node.name)
    p.reset()
    yield p
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        p.shot("FAILED")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep


class Page:
    def __init__(self, driver, url, artefacts, test_name):
        self.d, self.url, self.artefacts, self.test = driver, url, artefacts, test_name

    def reset(self):
        """A fresh tab state: the console's origin with no key kept."""
        self.d.get(self.url + "/")
        self.d.execute_script("sessionStorage.clear()")

    def open(self, hash_="#/", key=None):
        """Load the console afresh (not a mere hash change) at a view."""
        self.d.get("about:blank")
        self.d.get(self.url + "/" + hash_)
        if key is not None:
            self.d.execute_script("sessionStorage.setItem('memfs.key', arguments[0])", key)
            self.d.refresh()
        self.ready()
        return self

    def go(self, hash_):
        """Navigate within the page (a hash change, as a click on a link would)."""
        self.d.execute_script("location.hash = arguments[0]", hash_)
        self.ready()

    def ready(self):
        """Wait until the console finished rendering the current view."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.d, WAIT).until(
            lambda d: d.execute_script("return document.body.dataset.ready === '1'"))

    def click(self, css, wait=True):
        """Click; with `wait`, wait for the view the click leads to (a link, a form, an action
        that succeeded: the console renders again after each)."""
        if wait:
            self.d.execute_script("document.body.dataset.ready = 'clicked'")
        self.find(css).click()
        if wait:
            self.ready()

    def find(self, css):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def all(self, css):
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, css)

    def texts(self, css):
        return [e.text for e in self.all(css)]

    def text(self, css):
        return self.find(css).text

    def status(self):
        return self.d.find_element("css selector", "#status").text

    def shot(self, name, height=None):
        """A screenshot as an artefact; `height`: of a taller window (more of a long page)."""
        path = self.artefacts / f"{self.test}-{name}.png"
        if height:
            size = self.d.get_window_size()
            self.d.set_window_size(size["width"], height)
        try:
            self.d.save_screenshot(str(path))
        finally:
            if height:
                self.d.set_window_size(size["width"], size["height"])
        return path


@pytest.fixture
def docs_shot(page):
    """Copy a screenshot into docs/screenshots/ (for the README) when MEMFS_UPDATE_SCREENSHOTS=1."""

    def save(name, shot):
        if os.environ.get("MEMFS_UPDATE_SCREENSHOTS") == "1":
            dest = ROOT / "docs" / "screenshots"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, dest / f"{name}.png")

    return save
