"""The book: a strict build with executed chapters, figures, and nothing secret."""

import json
import re
import subprocess

import pytest
from test_book_text import is_real_alt
from test_grading import page_text

from autograder.book import PDF_NAME
from autograder.claims import claim_problems, same_outputs
from autograder.course import CHAPTERS
from autograder.release import find_leaks, secret_lines
from conftest import BOOK_LOG, REPO


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
    for bad in ("Traceback", "NotImplementedError:", "BEGIN HIDDEN TESTS", "BEGIN SOLUTION"):
        assert bad not in plain, bad


def test_chapter_1_trains_on_mnist(html):
    plain = page_text(html / "book" / "feedforward.html")
    assert "Data: MNIST" in plain and "test accuracy" in plain


def test_chapters_run_side_by_side_and_sphinx_takes_them_from_the_cache(html):
    """`autograder book` runs the notebooks that miss the execution cache in a pool first
    (``execute_ahead``), recorded as MyST-NB records them: Sphinx then executes none."""
    log = (html.parents[2] / BOOK_LOG).read_text()
    ahead = re.search(r"Executing (\d+) notebook\(s\), (\d+) at a time: (.*)", log)
    assert ahead, log[-2000:]
    assert int(ahead.group(1)) == len(CHAPTERS) and set(ahead.group(3).split(", ")) == {
        c.module for c in CHAPTERS
    }
    assert "Executing notebook using" not in log  # MyST-NB's own execution
    for chapter in CHAPTERS:  # read once: the PDF's build reads the HTML build's doctrees
        assert log.count(f"book/{chapter.module}.ipynb: Using cached notebook") == 1, chapter.module


def test_no_solution_line_or_hidden_test_in_the_book(html, course_copy):
    pages = [(str(p), page_text(p)) for p in html.rglob("*.html")]
    assert len(pages) >= 4
    assert find_leaks(pages, secret_lines(course_copy)) == []


# --- #17: outputs the text can rely on, alt text, the PDF ---------------------------


def executed(html, module):
    """The notebook as this build executed it (MyST-NB keeps it in _build/jupyter_execute)."""
    return json.loads((html.parent / "jupyter_execute" / "book" / f"{module}.ipynb").read_text())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_the_saved_notebook_is_what_this_build_ran(html, chapter):
    """The notebook the two tests below read holds this build's outputs: every code cell
    has run in it, while git keeps the outputs of the cells tests compare only. (Served
    from the execution cache, MyST-NB used to save the notebook as read, committed
    outputs and all: the tests then compared git with itself.)"""
    code = [c for c in executed(html, chapter.module)["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_the_text_states_what_this_build_printed(html, chapter):
    """Every number the prose states (a claim next to it) is what the build's output shows."""
    assert claim_problems(executed(html, chapter.module)) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_two_builds_print_the_same(html, chapter, course_copy):
    """The cells the text discusses print what they printed in the committed build:
    every experiment is seeded end to end (times aside)."""
    committed = json.loads((course_copy.root / "book" / f"{chapter.module}.ipynb").read_text())
    assert same_outputs(committed, executed(html, chapter.module)) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_every_image_has_alt_text(html, chapter):
    page = (html / "book" / f"{chapter.module}.html").read_text()
    images = [img for img in re.findall(r"<img\b[^>]*>", page) if "_images/" in img]  # not logos
    assert images
    for img in images:
        alt = re.search(r'\balt="([^"]*)"', img)
        assert alt and is_real_alt(alt.group(1)), img[:200]


def test_the_pdf_holds_every_chapter_and_no_secret(html, course_copy):
    """`autograder book --pdf` (run by the session's build) wrote the whole book, offline."""
    pdf = html / PDF_NAME
    assert pdf.is_file() and pdf.stat().st_size > 500_000
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    assert pages >= 120, pages
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    for chapter in CHAPTERS:
        assert f"Chapter {chapter.number}: {chapter.title}" in flat, chapter.title
    assert find_leaks([(str(pdf), text)], secret_lines(course_copy)) == []
    intro = (html / "book" / "intro.html").read_text()
    assert f'href="../{PDF_NAME}"' in intro  # the book links to it


def test_notebooks_run_ahead_of_sphinx_and_a_failing_one_is_named(tmp_path):
    """``execute_ahead`` on a small book: the good notebook lands in the execution cache
    under the hash MyST-NB looks up; the failing one is not cached, and its error names the
    notebook and what it raised; one excluded from execution, and one with execution
    settings of its own, are left to Sphinx."""
    import nbformat
    from jupyter_cache import get_cache

    from autograder.book import as_sphinx_executes, execute_ahead

    (tmp_path / "_config.yml").write_text(
        "execute:\n  execute_notebooks: cache\n  timeout: 60\n  exclude_patterns: ['off.ipynb']\n"
    )
    toc = "format: jb-book\nroot: good\nchapters:\n" + "".join(
        f"  - file: {n}\n" for n in ("bad", "dies", "off", "own")
    )
    (tmp_path / "_toc.yml").write_text(toc)
    ran = (
        ("good", "print('hello')"),
        ("bad", "raise ValueError('boom in a cell')"),
        ("dies", "import os; os._exit(3)"),
    )
    for name, code in ran + tuple(
        (n, "raise ValueError('never run ahead')")
        for n in ("off", "own")  # excluded; its own settings
    ):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        if name == "own":
            nb.metadata["mystnb"] = {"execution_mode": "off"}
        if name == "good":  # a budget no run can keep: the log says so
            nb.metadata["nnfs"] = {"budget_seconds": 0.001}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    said = []
    errors = execute_ahead(tmp_path, workers=2, say=said.append)
    assert said[0] == "Executing 3 notebook(s), 2 at a time: good, bad, dies"
    assert len(errors) == 2, errors
    bad, dies = sorted(errors)
    assert bad.startswith("bad.ipynb: ") and "boom in a cell" in bad
    assert dies.startswith("dies.ipynb: DeadKernelError"), dies  # not a crash of the build
    cache = get_cache(tmp_path / "_build" / ".jupyter_cache")
    record = cache.match_cache_notebook(as_sphinx_executes(tmp_path / "good.ipynb", tmp_path))
    _, merged = cache.merge_match_into_notebook(as_sphinx_executes(tmp_path / "good.ipynb", tmp_path))
    assert record and merged.cells[0].outputs[0]["text"] == "hello\n"
    (good,) = [line for line in said if "good.ipynb" in line]
    assert good.startswith("  good.ipynb executed in ") and good.endswith(
        "(budget 0.001 s, over it (on a busy machine, or the chapter grew))"
    )
    with pytest.raises(KeyError):
        cache.match_cache_notebook(as_sphinx_executes(tmp_path / "bad.ipynb", tmp_path))
    said.clear()  # again: the cached one is not run, the failed one is
    assert len(execute_ahead(tmp_path, say=said.append)) == 2
    assert said[0] == "Executing 2 notebook(s), 2 at a time: bad, dies"


def test_every_chapter_states_a_budget_and_together_they_fit_the_full_build():
    """#19: each chapter's demonstrations keep within a stated budget (``bench/book.py``
    measures them); run two at a time, the budgets leave a full build under 5 minutes on
    the 2-core machine, with a minute for Sphinx's own work (about 40 s measured)."""
    import nbformat

    from autograder.book import budget_seconds, toc_notebooks

    stated = {p.stem: budget_seconds(nbformat.read(p, as_version=4)) for p in toc_notebooks(REPO)}
    assert len(stated) == len(CHAPTERS) and None not in stated.values(), stated
    assert sum(stated.values()) / 2 + 60 <= 300, stated


def test_the_kernels_settings_that_decide_numbers_override_the_callers():
    """A developer's shell with other threads or TensorFlow settings builds the same book."""
    from autograder.book import KERNEL_ENV, kernel_environment

    caller = {"OMP_NUM_THREADS": "8", "TF_ENABLE_ONEDNN_OPTS": "1", "NNFS_OFFLINE": "0"}
    env = kernel_environment({**caller, "PATH": "/bin", "MPLBACKEND": "Agg"})
    assert {k: env[k] for k in caller} == {k: KERNEL_ENV[k] for k in caller} != caller
    assert env["PATH"] == "/bin" and "MPLBACKEND" not in env
