"""The book: a strict build with executed chapters, figures, and nothing secret."""
import re

import pytest

from autograder.release import find_leaks, secret_lines

from conftest import autograder
from test_grading import page_text


@pytest.fixture(scope="module")
def html(course_copy):
    autograder(course_copy, "book")  # -W -n --keep-going: any warning fails the build
    return course_copy.root / "_build" / "html"


def test_pages_are_built(html):
    for page in ("book/intro.html", "book/setup.html", "book/instructor.html",
                 "book/feedforward.html"):
        assert (html / page).is_file(), page


def test_chapter_shows_executed_outputs_and_figures(html):
    text = (html / "book" / "feedforward.html").read_text()
    figures = re.findall(r'<img[^>]+src="\.\./(_images/[^"]+\.png)"', text)
    assert len(figures) >= 2, "Chapter 1 lost its figures (digits and loss curve)"
    for figure in figures:
        assert (html / figure).stat().st_size > 5000, figure
    plain = page_text(html / "book" / "feedforward.html")
    assert "OK  sigmoid(z)" in plain
    assert "Data: MNIST" in plain
    for bad in ("Traceback", "NotImplementedError:", "BEGIN HIDDEN TESTS", "BEGIN SOLUTION"):
        assert bad not in plain, bad


def test_no_solution_line_or_hidden_test_in_the_book(html, course_copy):
    pages = [(str(p), page_text(p)) for p in html.rglob("*.html")]
    assert len(pages) >= 4
    assert find_leaks(pages, secret_lines(course_copy)) == []
