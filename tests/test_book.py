"""The book: a strict build with executed chapters, figures, and nothing secret."""
import re

import pytest

from autograder.course import CHAPTERS
from autograder.release import find_leaks, secret_lines

from test_grading import page_text


@pytest.fixture(scope="module")
def html(book_html):
    return book_html  # built once for the session, in conftest.py


def test_pages_are_built(html):
    for page in ["intro", "setup", "instructor"] + [c.module for c in CHAPTERS]:
        assert (html / "book" / f"{page}.html").is_file(), page


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_chapter_shows_executed_outputs_and_figures(html, chapter):
    page = html / "book" / f"{chapter.module}.html"
    figures = re.findall(r'<img[^>]+src="\.\./(_images/[^"]+\.(?:png|jpe?g))"', page.read_text())
    assert len(figures) >= 2, f"{chapter.module} lost its figures"
    for figure in figures:
        assert (html / figure).stat().st_size > 5000, figure
    plain = page_text(page)
    assert "OK  " in plain  # the check cells ran and passed
    for bad in ("Traceback", "NotImplementedError:", "BEGIN HIDDEN TESTS",
                "BEGIN SOLUTION"):
        assert bad not in plain, bad


def test_chapter_1_trains_on_mnist(html):
    plain = page_text(html / "book" / "feedforward.html")
    assert "Data: MNIST" in plain and "test accuracy" in plain


def test_no_solution_line_or_hidden_test_in_the_book(html, course_copy):
    pages = [(str(p), page_text(p)) for p in html.rglob("*.html")]
    assert len(pages) >= 4
    assert find_leaks(pages, secret_lines(course_copy)) == []
