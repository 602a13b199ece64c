"""Feedback that names the bug (#15, item 6): each common mistake of ``source_lib.mistakes``
is named in the trusted verdict of a corpus mutant that makes it, graded as a student's
submission through the sandbox."""

import tempfile
from pathlib import Path

import pytest

from autograder.checks import run_checks
from autograder.corpus import corpus, library_texts
from autograder.course import CHAPTERS, Course
from conftest import REPO
from source_lib import mistakes

NAMED = [
    (chapter, kind, student)
    for chapter in CHAPTERS
    for kind, students in getattr(corpus(chapter.module), "NAMED_MISTAKES", {}).items()
    for student in students
]


def test_every_mistake_is_proven_by_a_mutant():
    assert {kind for _, kind, _ in NAMED} == set(mistakes.MISTAKES)


def _verdicts(chapter, student):
    sub = next(s for s in corpus(chapter.module).SAMPLE_CLASS if s.student == student)
    course = Course(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in library_texts(course, chapter, sub).items():
            (Path(tmp) / "source_lib" / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "source_lib" / rel).write_text(text)
        return sub, run_checks(course, tmp, "student-42", sorted(sub.fails))


@pytest.mark.parametrize(
    "chapter, kind, student", NAMED, ids=[f"{kind}-{student}" for _, kind, student in NAMED]
)
def test_the_feedback_names_the_mistake(chapter, kind, student):
    sub, verdicts = _verdicts(chapter, student)
    named = [(v, f) for v in verdicts.values() for f in v.findings if f.mistake == kind]
    assert named, "\n".join(v.message for v in verdicts.values())
    verdict, finding = named[0]
    assert not verdict.passed and verdict.failed >= 1
    # in the student's words, in the message they read
    assert mistakes.explain(kind, finding.details["mistake"], finding.name) in verdict.message
    assert f"of {verdict.cases} hidden test cases" in verdict.message or verdict.cases == 1


# The feedback page: nbconvert's HTML exporter without its BeautifulSoup pass
# (``FeedbackPage``) writes the page that exporter writes.
IMAGES = (
    "An image without alt text: <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>\n\n"
    'Two with: <IMG SRC="x.png" ALT="a cat"> and ![a dog](dog.png), one closed: <img src="y.png"/>\n\n'
    "And text about tags, which is not one: `<img src=z.png>`, 1 <img and <imgs>"
)


def _page_of_images():
    import base64

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()
    plot = nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    printed = nbformat.v4.new_output("stream", name="stdout", text="<img src=q.png>\n")
    code = nbformat.v4.new_code_cell("plot()", outputs=[plot, printed], execution_count=1)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(IMAGES), code], metadata=nb.metadata)


def test_the_feedback_page_is_nbconverts_page_without_its_last_pass():
    """The same page: nbconvert's, read and written again by its BeautifulSoup pass."""
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter

    from autograder.nbgrader_ext.autograde_one import FeedbackPage

    nb = _page_of_images()
    for template in ("classic", "lab"):
        ours, _ = FeedbackPage(template_name=template).from_notebook_node(nb)
        stock, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
        if template == "classic":  # nbgrader's feedback template is a classic one
            assert str(BeautifulSoup(ours, features="html.parser")) == stock
        assert ours.count('alt="No description has been provided for this image"') == 3
        assert 'ALT="a cat"' in ours and 'alt="a dog"' in ours


def _page(lexer, cells):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": lexer}
    return nb


def test_pages_rendered_one_after_another_are_each_nbconverts_page():
    """A worker keeps each cell's highlighted code and rendered Markdown for the next
    students' pages (``FeedbackPage.rendered``): every page is still the one nbconvert's
    own exporter writes, when the same source comes back with other outputs, another
    lexer, a magic's language or an attachment."""
    import base64

    import nbformat
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter

    from autograder.nbgrader_ext.autograde_one import FeedbackPage

    black, white = (base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes([b]) * 64).decode() for b in (0, 255))
    new_code, new_md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell

    def printed(text):
        return [nbformat.v4.new_output("stream", name="stdout", text=text)]

    cat = "The cat: ![a cat](attachment:cat.png), *in* `code`."
    first = _page(
        "ipython3",
        [
            new_md(cat, attachments={"cat.png": {"image/png": black}}),
            new_code("result = check(x)", outputs=printed("passed\n")),
            new_code("echo hi"),
            new_md("Text *every* page has."),
        ],
    )
    again = _page(
        "ipython3",
        [
            new_md(cat, attachments={"cat.png": {"image/png": white}}),
            new_code("result = check(x)", outputs=printed("failed: 3 of 4\n")),
            new_code("echo hi", metadata={"magics_language": "bash"}),
        ],
    )
    other = _page("python", [new_md("Text *every* page has."), new_code("result = check(x)")])
    FeedbackPage.rendered.kept.clear()
    for nb in (first, again, other, first):
        ours, _ = FeedbackPage(template_name="classic").from_notebook_node(nb)
        stock, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
        assert str(BeautifulSoup(ours, features="html.parser")) == stock
    assert len(FeedbackPage.rendered.kept) >= 5  # kept, and taken from there


def test_the_kept_renderings_stay_within_their_size_oldest_used_first_out():
    from autograder.nbgrader_ext.autograde_one import _Rendered

    kept, calls = _Rendered(size=2), []

    def render(text):
        calls.append(text)
        return text.upper()

    for text in ("a", "b", "a", "c", "a", "b"):  # "b" goes when "c" comes; "a", used, stays
        assert kept.get(("t", text), lambda text=text: render(text)) == text.upper()
    assert calls == ["a", "b", "c", "b"] and list(kept.kept) == [("t", "a"), ("t", "b")]
