"""The built HTML book in a real browser.

The normal HTML build (the session fixture ``real_builds``) is served over HTTP
from this process and opened in headless Chromium, driven by Selenium through
Debian's ``chromium`` and ``chromium-driver`` packages, which the test set-up
installs (``make browser``). Every page of the table of contents is visited,
and a page fails if

- an internal link points at a file that does not exist, or at an anchor
  (``page.html#section``) that is not on the target page;
- an image of the book does not load;
- a formula is left as raw TeX, because MathJax did not load or failed
  (the build ships its own copy, so this must work without a network);
- a chapter notebook has no "open in Colab" link to its own notebook.

A screenshot of every page is saved as a test artefact in
``_build/screenshots/`` (another folder with ``TLBOOK_SCREENSHOTS``). A small
site with a broken link, a missing anchor and a missing image shows that the
checks catch each of them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag

import pytest
from bookbuild import ROOT, toc_files

COLAB = ("https://colab.research.google.com/github/tlbook-project/"
         "transfer-learning-nlp/blob/main/{name}.ipynb")
SCREENSHOTS = Path(os.environ.get("TLBOOK_SCREENSHOTS", ROOT / "_build" / "screenshots"))
INSTALL_ADVICE = ("run `make browser` (on Debian/Ubuntu: apt-get install chromium "
                  "chromium-driver)")


# ------------------------------------------------------------------ browser and server


def _executable(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Selenium, shared by all tests of the session."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extras")
    chromium = _executable("chromium", "chromium-browser")
    driver_path = _executable("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(f"headless Chromium and chromedriver are needed for this test: {INSTALL_ADVICE}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1600", "--hide-scrollbars"):
        options.add_argument(flag)
    # An explicit driver path keeps Selenium from trying to download one.
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)  # MathJax typesetting a long page
    yield driver
    driver.quit()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def _servers():
    """Yields ``start(folder) -> base URL``; every server started stops on exit."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def serve():
    """``serve(folder)`` serves ``folder`` over HTTP and returns its base URL."""
    with _servers() as start:
        yield start


# ------------------------------------------------------------------ the checks


class _Anchors(HTMLParser):
    """Collects the ``id`` and ``name`` attributes of an HTML page."""

    def __init__(self):
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.anchors.add(value)


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> tuple[int, str]:
    """HTTP status and text of a same-origin URL."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@functools.lru_cache(maxsize=None)
def _anchors(url: str) -> frozenset[str]:
    """The ids and names of a page, parsed once per page (the API page links to
    hundreds of anchors on itself)."""
    parser = _Anchors()
    parser.feed(_fetch(url)[1])
    return frozenset(parser.anchors)


_IMAGES_SETTLED = """
return Array.from(document.images).every(img => img.complete);
"""
_BROKEN_IMAGES = """
return Array.from(document.images)
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => img.currentSrc || img.src || img.outerHTML);
"""
_UNTYPESET_MATH = """
const done = arguments[arguments.length - 1];
const math = Array.from(document.querySelectorAll('.math'));
if (!math.length) { done([]); return; }
if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    done(['MathJax did not load (' + math.length + ' formulas left as TeX)']); return;
}
MathJax.startup.promise.then(
    () => done(math.filter(m => !m.querySelector('mjx-container'))
                   .map(m => 'formula not typeset: ' + m.textContent.trim().slice(0, 60))),
    err => done(['MathJax failed: ' + err]));
"""
_LINKS = """
return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
"""


def page_problems(driver, url: str, base: str) -> list[str]:
    """Load ``url`` in ``driver`` and list what is broken on the page.

    Internal links (under ``base``) must reach an existing file, and their
    anchor, if any, must exist on the target page; every image under ``base``
    must load; every formula (``class="math"``) must have been typeset by
    MathJax. Links and images elsewhere are not followed (the book must
    work offline, and nothing outside it is reachable from the tests).
    """
    driver.get(url)
    # Scroll through the page so that lazily loaded images are requested too.
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
    deadline = time.monotonic() + 15
    while not driver.execute_script(_IMAGES_SETTLED) and time.monotonic() < deadline:
        time.sleep(0.2)
    driver.execute_script("window.scrollTo(0, 0);")

    problems = list(driver.execute_async_script(_UNTYPESET_MATH))
    for src in driver.execute_script(_BROKEN_IMAGES):
        if src.startswith(base) or not src.startswith("http"):
            problems.append(f"image does not load: {src}")
    for href in sorted(set(driver.execute_script(_LINKS))):
        if not href.startswith(base):
            continue
        target, fragment = urldefrag(href)
        status, _ = _fetch(target)
        if status != 200:
            problems.append(f"broken link: {href} (HTTP {status})")
        elif fragment and target.endswith(".html") and fragment not in _anchors(target):
            problems.append(f"broken link: {href} (no anchor #{fragment} on that page)")
    return problems


# ------------------------------------------------------------------ a broken site


_PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7356b0b00"
    "00000049454e44ae426082"
)


def test_the_checks_catch_a_broken_link_a_missing_anchor_a_missing_image_and_raw_tex(
        browser, serve, tmp_path):
    (tmp_path / "ok.png").write_bytes(_PNG_1x1)
    (tmp_path / "other.html").write_text('<html><body><h1 id="here">Other</h1></body></html>')
    (tmp_path / "index.html").write_text(
        "<html><body>"
        '<a href="other.html">fine</a> <a href="other.html#here">fine anchor</a> '
        '<a href="missing.html">gone</a> <a href="other.html#nowhere">bad anchor</a> '
        '<img src="ok.png" alt="fine"> <img src="missing.png" alt="gone">'
        r'<span class="math">\(x^2\)</span>'  # and no MathJax on the page
        "</body></html>"
    )
    base = serve(tmp_path)
    problems = page_problems(browser, base + "index.html", base)
    assert len(problems) == 4, problems
    assert any("MathJax did not load (1 formulas left as TeX)" in p for p in problems)
    assert any("missing.html" in p and "HTTP 404" in p for p in problems)
    assert any("#nowhere" in p and "no anchor" in p for p in problems)
    assert any("missing.png" in p and "image" in p for p in problems)
    assert not any("ok.png" in p or p.endswith("other.html (HTTP 200)") for p in problems)


# ------------------------------------------------------------------ the real book


PAGES = toc_files(ROOT / "_toc.yml")


@pytest.fixture(scope="module")
def book_url(real_builds):
    with _servers() as start:
        yield start(real_builds["normal"])


@pytest.mark.parametrize("name", PAGES)
def test_book_page_in_the_browser(browser, book_url, name):
    problems = page_problems(browser, f"{book_url}{name}.html", book_url)

    if (ROOT / f"{name}.ipynb").exists():
        colab = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href*=\"colab.research\"]'))"
            ".map(a => a.href);")
        if COLAB.format(name=name) not in colab:
            problems.append(f"no 'open in Colab' link to {name}.ipynb (found {colab})")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name.replace('/', '__')}.png"
    assert browser.save_screenshot(str(shot)), f"could not save {shot}"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not problems, f"{name}:\n" + "\n".join(problems)
