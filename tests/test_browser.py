"""The built book in a real browser: every page loads offline and shows what it should.

The HTML book (built once per session, see ``book_html`` in conftest.py) is
served on loopback and every page is opened in headless Chromium, driven by
Selenium through Debian's ``/usr/bin/chromedriver`` (Selenium Manager never
goes to the network). Host names other than 127.0.0.1 do not resolve in this
browser, so a page that needs a remote server fails here as it would offline.

Each check below is a plain function from what the browser saw on one page
(``visit`` collects it in one pass) to a list of problems. The real pages
must give none; a deliberately broken copy of a chapter page must give the
ones it was broken with (``test_the_checks_catch_a_broken_page``).

A screenshot of every page is left in ``test-artifacts/browser/``. To iterate
on these tests without building the book, point ``NNFS_BOOK_HTML`` at a built
book (``NNFS_BOOK_HTML=_build/html pytest tests/test_browser.py``).
"""

import base64
import functools
import html
import http.server
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from autograder.course import CHAPTERS
from autograder.release import secret_lines
from conftest import REPO

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts" / "browser"
WINDOW = (1400, 1000)  # wide enough for the theme to show the primary sidebar
MATHJAX_TIMEOUT = 30  # seconds for MathJax to start and typeset a page
NOT_CONTENT = {"search.html", "genindex.html", "py-modindex.html"}  # Sphinx's own pages
CHAPTER_PAGES = [f"book/{c.module}.html" for c in CHAPTERS]


# --------------------------------------------------------------------------- serving


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextmanager
def serve(folder):
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def toc_pages(toc_file):
    """The pages ``_toc.yml`` lists, as built HTML paths (``book/intro.html``)."""

    def files(entry):
        if isinstance(entry, dict):
            if "file" in entry:
                yield entry["file"]
            for value in entry.values():
                yield from files(value)
        elif isinstance(entry, list):
            for item in entry:
                yield from files(item)

    toc = yaml.safe_load(Path(toc_file).read_text())
    names = [toc["root"], *files(toc.get("parts", toc.get("chapters", [])))]
    return [f"{name}.html" for name in names]


def book_pages(root):
    """Every page of a built book, as paths relative to ``root`` (``book/intro.html``)."""
    pages = []
    for path in sorted(Path(root).rglob("*.html")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("_static", "_sources", "_images") or relative.name in NOT_CONTENT:
            continue
        pages.append(relative.as_posix())
    return pages


# --------------------------------------------------------------------------- the browser


def start_chromium():
    """Headless Chromium, offline but for loopback, keeping its console log."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the browser test needs Debian's Chromium "
            "and its driver (apt-get install chromium chromium-driver)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        # the book must work offline: no host name but loopback resolves
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(MATHJAX_TIMEOUT + 10)
    return driver


WAITING = """return document.readyState === 'complete'
  && !document.querySelector('meta[http-equiv="refresh" i]');"""

# Waits for MathJax on pages that load it: its startup promise resolves once the
# page is typeset. "absent" on pages without MathJax; "not started" when the
# script never ran (e.g. it was to come from a server the browser cannot reach:
# MathJax's script is deferred, so it has run by the load event, and a few
# seconds' grace covers loaders that add it later); "timed out" when typesetting
# takes longer than the timeout.
WAIT_FOR_MATHJAX = """
const [timeout, done] = [arguments[0] * 1000, arguments[arguments.length - 1]];
const wanted = document.querySelector('.math, script[src*="mathjax" i], script[id*="MathJax"]');
if (!wanted) { done('absent'); return; }
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    setTimeout(() => done('timed out'), Math.max(0, timeout - (Date.now() - start)));
    mj.startup.promise.then(() => done('typeset'), e => done('failed: ' + e));
  } else if (Date.now() - start > 3000) {
    done('not started');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

# Everything the checks need, read from the page as the browser shows it.
SNAPSHOT = r"""
const main = document.querySelector('main#main-content') || document.body;
const article = document.querySelector('article.bd-article') || main;
const shown = e => e.getClientRects().length > 0;
const ids = [...document.querySelectorAll('[id]')].map(e => e.id)
  .concat([...document.querySelectorAll('a[name]')].map(e => e.name));
const hidden = 'pre, code, script, style, textarea, mjx-container, .highlight';
const prose = [];
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
for (let node; (node = walker.nextNode());) {
  if (!node.parentElement.closest(hidden)) prose.push(node.nodeValue);
}
const resources = [
  ...[...document.querySelectorAll('[src]')].map(e => e.src).filter(Boolean),
  ...[...document.querySelectorAll('link[href]')]
    .filter(e => /stylesheet|preload|modulepreload|icon/i.test(e.rel)).map(e => e.href),
  ...performance.getEntriesByType('resource').map(e => e.name),
];
const math = [...article.querySelectorAll('.math')];
return {
  url: location.href,
  ids: ids,
  links: [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href]),
  sidebar: [...document.querySelectorAll('nav.bd-docs-nav a[href]')].filter(shown).map(a => a.href),
  resources: resources,
  images: [...main.querySelectorAll('img')].map(img => ({
    src: img.getAttribute('src'), complete: img.complete, shown: img.clientWidth,
    width: img.naturalWidth, height: img.naturalHeight, in_article: article.contains(img)})),
  math: math.length,
  untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent),
  typeset: article.querySelectorAll('mjx-container').length,
  math_errors: [...article.querySelectorAll('mjx-merror')]
    .map(e => e.getAttribute('data-mjx-error') || e.textContent),
  prose: prose.join(''),
  outputs: [...article.querySelectorAll('.cell_output')].map(e => e.textContent),
  error_outputs: article.querySelectorAll('.cell_output :is(.traceback, .output.error)').length,
  code: [...article.querySelectorAll('.cell_input, pre')].map(e => e.textContent),
  icons: [...document.querySelectorAll('link[rel~="icon" i]')].map(e => e.href),
  searches: [...document.querySelectorAll('input[type="search"], .search-button__button')]
    .filter(shown).length,
};
"""

PHONE = 400  # px: the narrowest screen the pages must fit (#17)
# A figure may be shown down to 1 / LEGIBLE of its drawn size (at the desktop width):
# smaller, and its 10-pt labels fall under 8 pt.
LEGIBLE = 1.25

# How a page fits a phone's width: the page's (or its article's) horizontal
# scroll, and the elements of the text that stick out past the screen's edge
# (the insides of a box meant to scroll, such as code or a table, are fine).
NARROW = r"""
const width = document.documentElement.clientWidth;
const describe = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
  + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '');
// Boxes meant to scroll sideways: code, outputs, tables, displayed math.
const scroller = 'pre, .highlight, .output, table, mjx-container';
const wide = [...document.querySelectorAll('article.bd-article *')]
  .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > width + 1
               && !e.parentElement.closest(scroller))
  .map(e => [describe(e), Math.round(e.getBoundingClientRect().right)]);
const article = document.querySelector('.bd-article-container') || document.body;
return {width: width, wide: wide.slice(0, 5),
        scroll: Math.max(document.documentElement.scrollWidth, article.scrollWidth)};
"""


@dataclass
class Page:
    """What the browser saw on one page."""

    name: str  # path relative to the book's root, e.g. book/feedforward.html
    url: str  # where the browser ended up (after a redirect)
    mathjax: str
    console: list  # the browser's log entries while the page was open
    ids: set = field(default_factory=set)
    links: list = field(default_factory=list)  # (href as written, absolute URL)
    sidebar: list = field(default_factory=list)  # absolute URLs of the visible sidebar links
    resources: list = field(default_factory=list)
    images: list = field(default_factory=list)
    math: int = 0
    untypeset: list = field(default_factory=list)
    typeset: int = 0
    math_errors: list = field(default_factory=list)
    prose: str = ""
    outputs: list = field(default_factory=list)
    error_outputs: int = 0
    code: list = field(default_factory=list)
    icons: list = field(default_factory=list)  # the page's favicon links
    searches: int = 0  # visible search fields and buttons


def visit(driver, base, name, screenshot=None):
    """Open ``base + name``, wait for images and MathJax, and record what the page shows."""
    driver.get_log("browser")  # drop what earlier pages left behind
    driver.get(base + name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # loaded, and not about to redirect (index.html)
        try:
            if driver.execute_script(WAITING):
                break
        except WebDriverException:  # the page was replaced as we asked
            pass
        time.sleep(0.1)
    mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX, MATHJAX_TIMEOUT)
    seen = driver.execute_script(SNAPSHOT)
    if screenshot is not None:
        save_screenshot(driver, screenshot)
    page = Page(name=name, mathjax=mathjax, console=driver.get_log("browser"), **seen)
    page.ids = set(seen["ids"])
    return page


def save_screenshot(driver, path, max_height=40000):
    """A PNG of the whole page: the viewport is made as tall as the page for the shot."""
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), max_height)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def fit_on_phone(driver, base, name):
    """Open ``base + name`` at a phone's width; what sticks out sideways (see ``NARROW``)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE, "height": 800, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        visit(driver, base, name)
        return driver.execute_script(NARROW)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# --------------------------------------------------------------------------- the checks


def phone_problems(fit):
    """The page scrolls sideways on a phone (``fit`` from ``fit_on_phone``)."""
    if fit["scroll"] <= fit["width"] + 1 and not fit["wide"]:
        return []
    culprits = ", ".join(f"{what} (to {right} px)" for what, right in fit["wide"]) or "?"
    return [f"scrolls sideways at {PHONE} px: {fit['scroll']} px wide; widest: {culprits}"]


def chrome_problems(page):
    """One search field (not two), and an icon for the browser's tab."""
    problems = []
    if page.searches != 1:
        problems.append(f"{page.searches} search fields or buttons shown (want one)")
    if not page.icons:
        problems.append("no favicon")
    return problems


def console_problems(page, base):
    """SEVERE entries of the browser's console: failed requests, script errors, console.error."""
    problems = []
    for entry in page.console:
        if entry["level"] != "SEVERE":
            continue
        # Chromium asks every site for /favicon.ico by itself when a page names no icon; the
        # book names none and does not ask for that file, so its 404 from our bare test server
        # says nothing about the book (a missing icon the book *does* name is still reported).
        if entry["source"] == "network" and entry["message"].startswith(base + "favicon.ico "):
            continue
        problems.append(f"console: {entry['message']}")
    return problems


def remote_problems(page, base):
    """Scripts, styles, images, fonts... that the page loads from anywhere but the book."""
    remote = sorted(
        {url for url in page.resources if not url.startswith(base) and not url.startswith(("data:", "blob:"))}
    )
    return [f"loads a remote resource (the book must work offline): {url}" for url in remote]


def figure_problems(page, chapter=False):
    """Every image shows (loaded and decoded, non-zero size); a chapter has figures."""
    problems = [
        f"image not shown: {img['src']} (complete={img['complete']}, {img['width']}x{img['height']})"
        for img in page.images
        if not (img["complete"] and img["width"] > 0)
    ]
    if chapter and not any(img["in_article"] for img in page.images):
        problems.append("a chapter without a single figure")
    for img in page.images:  # drawn much wider than the text column: its labels shrink
        if img["in_article"] and img["shown"] and img["width"] > LEGIBLE * img["shown"]:
            problems.append(
                f"figure shrunk to {img['shown'] / img['width']:.0%} of its size, "
                f"labels too small: {img['src']} ({img['width']} px drawn, "
                f"{img['shown']} px shown; draw it at most 7 inches wide)"
            )
    return problems


# TeX that MathJax should have turned into math but that is still plain text.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")


def math_problems(page, chapter=False):
    """Math is typeset by MathJax: no untypeset formula, no TeX error, no raw delimiter left."""
    problems = []
    if chapter and page.math == 0:
        problems.append("a chapter without any math")
    if page.math and page.mathjax != "typeset":
        problems.append(f"MathJax {page.mathjax} ({page.math} formulas on the page)")
    elif page.untypeset:
        problems.append(
            f"{len(page.untypeset)} of {page.math} formulas not typeset, e.g. {page.untypeset[0][:80]!r}"
        )
    if page.math and not page.typeset and page.mathjax == "typeset":
        problems.append("no MathJax output (mjx-container) on a page with math")
    problems += [f"MathJax error: {error[:120]}" for error in page.math_errors]
    for match in list(RAW_TEX.finditer(page.prose))[:5]:
        context = page.prose[max(0, match.start() - 40) : match.end() + 40]
        problems.append(f"raw TeX in the text: {' '.join(context.split())!r}")
    return problems


def output_problems(page, secrets):
    """No cell output shows an error, and no cell or code block shows a solution line."""
    problems = []
    for output in page.outputs:
        for bad in ("Traceback (most recent call last)", "NotImplementedError"):
            if bad in output:
                line = next(text for text in output.splitlines() if bad in text)
                problems.append(f"an output shows {bad!r}: {line.strip()[:120]!r}")
    if page.error_outputs:
        problems.append(f"{page.error_outputs} error output(s) (traceback blocks)")
    shown = "\n".join(page.code + page.outputs)
    problems += [
        f"a solution line or hidden test is shown: {line!r}" for line in sorted(secrets) if line in shown
    ]
    return problems


def target_file(root, base, url):
    """The file under ``root`` that ``url`` (on the book's server, no fragment) names."""
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path) :]
    if path == "" or path.endswith("/"):
        path += "index.html"
    return Path(root, *PurePosixPath(path).parts)


def link_problems(page, root, base, ids_of):
    """Every link into the book names an existing file, and its #fragment an element there.

    ``ids_of(url)`` gives the element ids of the page at ``url`` (as the browser sees them).
    """
    problems = []
    for written, url in page.links:
        if not url.startswith(base):
            continue  # outside the book: Binder, Colab, the repository...
        address, fragment = urldefrag(url)
        fragment = unquote(fragment)
        file = target_file(root, base, address)
        if not file.is_file():
            problems.append(f"broken link {written!r}: no file {file.relative_to(root)}")
        elif fragment and file.suffix == ".html" and fragment not in ids_of(address):
            problems.append(f"broken link {written!r}: no id {fragment!r} in {file.relative_to(root)}")
    return sorted(set(problems))


def navigation_problems(front, pages_by_url, wanted):
    """Following visible sidebar links from the front page reaches every page in ``wanted``."""
    reached, todo = {front}, [front]
    while todo:
        page = pages_by_url.get(todo.pop())
        for url in page.sidebar if page else []:
            url = urldefrag(url)[0]
            if url not in reached:
                reached.add(url)
                todo.append(url)
    return [
        f"{url} cannot be reached from the front page through the sidebar"
        for url in wanted
        if url not in reached
    ]


# --------------------------------------------------------------------------- the book


@pytest.fixture(scope="module")
def chromium():
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def secrets(course_copy):
    return secret_lines(course_copy)


@dataclass
class Book:
    base: str  # the URL it was served at
    pages: dict  # name -> Page, for every page but index.html
    front: Page  # where index.html leads
    links: dict  # name -> link problems (found while the book was served)
    phone: dict  # name -> how the page fits a phone (``fit_on_phone``)


@pytest.fixture(scope="module")
def book(book_html, chromium):
    """Every page of the built book, opened once (a screenshot of each is saved)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with serve(book_html) as base:
        pages = {}
        for name in book_pages(book_html):
            if name != "index.html":
                shot = ARTIFACTS / (name.removesuffix(".html").replace("/", "-") + ".png")
                pages[name] = visit(chromium, base, name, screenshot=shot)
        front = visit(chromium, base, "index.html")  # Sphinx's redirect to the first page
        by_url = {page.url: page for page in pages.values()}

        @functools.cache
        def ids_of(url):  # pages not checked here (search, genindex) are opened when needed
            return by_url[url].ids if url in by_url else visit(chromium, base, url[len(base) :]).ids

        links = {
            name: link_problems(page, book_html, base, ids_of)
            for name, page in {**pages, "index.html": front}.items()
        }
        phone = {name: fit_on_phone(chromium, base, name) for name in pages}
    return Book(base, pages, front, links, phone)


def report(problems_by_page):
    """A readable list: each page with problems, then its problems (empty if there are none)."""
    lines = []
    for name, problems in problems_by_page.items():
        if problems:
            lines.append(f"{name}:")
            lines += [f"    {problem}" for problem in problems]
    return "\n".join(lines)


def assert_no_problems(problems_by_page, what):
    if report(problems_by_page):
        pytest.fail(f"{what}:\n{report(problems_by_page)}", pytrace=False)


def test_every_page_of_the_toc_is_opened(book, course_copy):
    wanted = toc_pages(course_copy.root / "_toc.yml")
    assert {"book/intro.html", "book/setup.html", "book/instructor.html", *CHAPTER_PAGES} <= set(wanted)
    assert [name for name in wanted if name not in book.pages] == []
    assert book.front.url == book.base + "book/intro.html"


def test_pages_load_offline_without_console_errors(book):
    pages = {**book.pages, "index.html (redirecting to book/intro.html)": book.front}
    problems = {
        name: console_problems(page, book.base) + remote_problems(page, book.base)
        for name, page in pages.items()
    }
    assert_no_problems(problems, "console errors or remote resources")


def test_every_figure_is_shown(book):
    problems = {
        name: figure_problems(page, chapter=name in CHAPTER_PAGES) for name, page in book.pages.items()
    }
    assert_no_problems(problems, "figures not shown")


def test_math_is_typeset(book):
    problems = {name: math_problems(page, chapter=name in CHAPTER_PAGES) for name, page in book.pages.items()}
    assert_no_problems(problems, "math not typeset")
    assert all(book.pages[name].typeset > 0 for name in CHAPTER_PAGES)


def test_no_output_shows_an_error_or_a_solution(book, secrets):
    assert len(secrets) > 20
    problems = {name: output_problems(page, secrets) for name, page in book.pages.items()}
    assert_no_problems(problems, "cell outputs with errors, or solutions shown")
    assert all(book.pages[name].outputs for name in CHAPTER_PAGES)  # the chapters were executed


def test_the_sidebar_reaches_every_page(book):
    by_url = {page.url: page for page in book.pages.values()}
    wanted = [book.base + name for name in book.pages]
    problems = navigation_problems(book.front.url, by_url, wanted)
    assert_no_problems({"from the front page": problems}, "pages the navigation misses")


def test_every_internal_link_resolves(book):
    assert sum(len(page.links) for page in book.pages.values()) > 100
    assert_no_problems(book.links, "broken internal links")


def test_every_page_fits_a_phone(book):
    problems = {name: phone_problems(fit) for name, fit in book.phone.items()}
    assert_no_problems(problems, f"pages wider than a {PHONE} px screen")


def test_one_search_box_and_a_favicon(book):
    problems = {name: chrome_problems(page) for name, page in book.pages.items()}
    assert_no_problems(problems, "search boxes or favicon")


SEARCH_SNIPPETS = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const snippets = [...document.querySelectorAll('#search-results p.context')];
  if (snippets.length >= 3 || Date.now() - start > 20000) {
    done(snippets.map(p => p.textContent));
  } else {
    setTimeout(poll, 200);
  }
})();
"""


def test_search_snippets_show_no_tex_delimiters(book_html, chromium):
    """The search page's snippets come from the pages' text, formulas as TeX: shown without
    MathJax's \\( \\) delimiters (_static/search-math.js)."""
    snippets = []
    with serve(book_html) as base:
        for query in ("variance", "stride", "gradient"):
            chromium.get(base + f"search.html?q={query}")
            snippets += chromium.execute_async_script(SEARCH_SNIPPETS)
    assert any(re.search(r"\\(times|frac|partial|sqrt)|\d/\(", s) for s in snippets)  # formulas
    raw = [s for s in snippets if re.search(r"\\[()\[\]]", s)]
    assert raw == [], raw[:2]


def test_the_phone_check_catches_a_wide_page(book_html, chromium, tmp_path):
    """A chapter page with one element wider than a phone, outside any scrolling box."""
    chapter = "book/pooling.html"
    for folder in ("_static", "_images"):
        shutil.copytree(book_html / folder, tmp_path / folder)
    text, found = re.subn(
        r'(<h1>[^<]*<a class="headerlink")',
        r'<div id="too-wide" style="width: 700px">wide</div>\1',
        (book_html / chapter).read_text(),
        count=1,
    )
    assert found == 1
    (tmp_path / chapter).parent.mkdir()
    (tmp_path / chapter).write_text(text)
    with serve(tmp_path) as base:
        problems = phone_problems(fit_on_phone(chromium, base, chapter))
    assert problems and "div#too-wide" in problems[0], problems


def test_the_checks_catch_a_broken_page(book_html, chromium, secrets, tmp_path):
    """A chapter page broken on purpose: a missing figure, a traceback, a solution line,
    unrendered math and a broken link are all reported by the checks above."""
    chapter = "book/feedforward.html"
    for folder in ("_static", "_images"):
        shutil.copytree(book_html / folder, tmp_path / folder)
    text = (book_html / chapter).read_text()
    # 1. a figure whose file is missing
    text, figures = re.subn(
        r'(<img [^>]*src=")\.\./_images/[^"]+\.png"', r'\1../_images/missing-figure.png"', text, count=1
    )
    # 2. a cell output with a traceback
    traceback = (
        '<div class="output traceback highlight-ipythontb"><div class="highlight">'
        "<pre><span></span>Traceback (most recent call last):\n"
        '  File "&lt;cell&gt;", line 1, in &lt;module&gt;\n'
        "NotImplementedError: write the forward pass</pre></div></div>"
    )
    text, outputs = re.subn(
        r'(<div class="cell_output docutils container">)', lambda m: m.group(1) + traceback, text, count=1
    )
    # 3. a solution line in a code cell
    secret = sorted(secrets)[0]
    text, cells = re.subn(
        r'(<div class="cell_input docutils container">\s*<div class="[^"]*">'
        r'<div class="highlight"><pre>)',
        lambda m: m.group(1) + html.escape(secret) + "\n",
        text,
        count=1,
    )
    # 4. a formula MathJax is not asked to typeset, and 5. a link to nowhere
    text, formulas = re.subn(r'<span class="math notranslate nohighlight">', "<span>", text, count=1)
    text, links = re.subn(r"(<h1>)", r'\1<a href="nowhere.html#here">x</a>', text, count=1)
    assert (figures, outputs, cells, formulas, links) == (1, 1, 1, 1, 1)
    (tmp_path / chapter).parent.mkdir()
    (tmp_path / chapter).write_text(text)

    with serve(tmp_path) as base:
        page = visit(chromium, base, chapter)
        found = {
            "console": console_problems(page, base),
            "figures": figure_problems(page, chapter=True),
            "outputs": output_problems(page, secrets),
            "math": math_problems(page, chapter=True),
            "links": link_problems(page, tmp_path, base, lambda url: page.ids if url == page.url else set()),
        }
    message = "\n" + report(found)
    assert any("missing-figure.png" in p and "404" in p for p in found["console"]), message
    assert any("image not shown: ../_images/missing-figure.png" in p for p in found["figures"]), message
    assert any("Traceback (most recent call last)" in p for p in found["outputs"]), message
    assert any("NotImplementedError" in p for p in found["outputs"]), message
    assert any(repr(secret) in p for p in found["outputs"]), message
    assert any(p.startswith("raw TeX in the text") for p in found["math"]), message
    assert "broken link 'nowhere.html#here': no file book/nowhere.html" in found["links"], message
    # the rest of the page is still fine: only what was broken is reported
    assert len(found["figures"]) == 1 and len(found["outputs"]) == 4, message
    assert not [p for p in found["links"] if "no id" in p], message
