"""The chapter notebooks as committed (#17): claims well formed, outputs that some test
compares and no others, code that fits the page, diagrams drawn by code with alt text.

Fast: nothing here executes a notebook (``test_book.py`` checks the built book).
"""

import copy
import json
import re

import pytest

from autograder.book import is_check_cell, strip_notebook
from autograder.claims import NBVAL_TAG, claim_problems, claims, same_outputs, strip_outputs
from conftest import REPO

CHAPTERS = ["feedforward", "convolution", "pooling", "normalization", "autoencoder", "lenet"]
MAX_LINE = 88  # characters of a code line on the page (the book's text column)

# Item 2 of #17: the mechanisms the book draws, by figure name (cell metadata
# mystnb.figure.name), each drawn by a function of source_lib/diagrams/<chapter>_figures.py.
DIAGRAMS = {
    "feedforward": ["network", "graph"],
    "convolution": ["sliding", "im2col", "transposed", "receptive"],
    "pooling": ["pooling", "routing"],
    "normalization": ["axes"],
    "autoencoder": ["autoencoder"],
    "lenet": ["lenet5"],
}


def notebook(module):
    return json.loads((REPO / "book" / f"{module}.ipynb").read_text())


def source(cell):
    text = cell.get("source", "")
    return text if isinstance(text, str) else "".join(text)


def images_of(cell):
    return [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("module", CHAPTERS)
def test_claims_name_their_text_and_a_code_cell(module):
    nb = notebook(module)
    cells = {c["id"]: c for c in nb["cells"]}
    for claim in claims(nb):
        assert claim.text in source(cells[claim.where]), claim
        assert claim.cell in cells and cells[claim.cell]["cell_type"] == "code", claim
        assert re.compile(claim.pattern).groups >= 1, claim
        low, high = claim.range
        assert low <= high, claim


@pytest.mark.parametrize("module", CHAPTERS)
def test_committed_outputs_are_the_ones_tests_compare(module):
    """Outputs in git are those nbval compares and the text's claims name (their text only);
    ``autograder strip-outputs`` clears the rest. And every claimed cell has its output,
    which ``test_book.py`` compares with a fresh build."""
    nb = notebook(module)
    stripped = copy.deepcopy(nb)
    assert strip_outputs(stripped) == 0, (
        f"book/{module}.ipynb holds outputs no test compares: run "
        f"`autograder strip-outputs book/{module}.ipynb`"
    )
    cells = {c["id"]: c for c in nb["cells"]}
    for claim in claims(nb):
        assert cells[claim.cell].get("outputs"), f"{claim.cell}: claimed, but no committed output"


@pytest.mark.parametrize("module", CHAPTERS)
def test_the_committed_outputs_support_the_text(module):
    assert claim_problems(notebook(module)) == []


def test_claims_catch_a_wrong_number_and_a_changed_output():
    nb = {
        "cells": [
            {
                "id": "text",
                "cell_type": "markdown",
                "source": "It reaches about 97% in 40 to 60 s.",
                "metadata": {
                    "nnfs": {
                        "claims": [
                            {
                                "text": "about 97%",
                                "cell": "run",
                                "pattern": r"accuracy: ([0-9.]+)%",
                                "range": [96.5, 97.5],
                            },
                            {
                                "text": "40 to 60 s",
                                "cell": "run",
                                "pattern": r"time: ([0-9.]+) s",
                                "range": [40, 60],
                                "time": True,
                            },
                        ]
                    }
                },
            },
            {
                "id": "run",
                "cell_type": "code",
                "metadata": {},
                "source": "train()",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "accuracy: 97.1%\ntime: 51.0 s\n"}
                ],
            },
        ]
    }
    assert claim_problems(nb) == []
    later = copy.deepcopy(nb)
    later["cells"][1]["outputs"][0]["text"] = "accuracy: 97.1%\ntime: 70.2 s\n"
    assert same_outputs(nb, later) == []  # another time, the same numbers
    later["cells"][1]["outputs"][0]["text"] = "accuracy: 27.8%\ntime: 70.2 s\n"
    assert any("27.8" in p for p in claim_problems(later))
    assert any("printed something else" in p for p in same_outputs(nb, later))
    slow = copy.deepcopy(nb)
    slow["cells"][1]["outputs"][0]["text"] = "accuracy: 97.1%\ntime: 400 s\n"
    assert any("400" in p for p in claim_problems(slow))  # beyond the slack for load
    reworded = copy.deepcopy(nb)
    reworded["cells"][0]["source"] = "It reaches 98%."
    assert any("no longer says" in p for p in claim_problems(reworded))


@pytest.mark.parametrize(
    "text, printed, wrong",
    [
        ("lower by 23%", "change: -22%", True),  # a range of [-24, -22] let this through
        ("lower by 22%", "change: -22%", False),
        ("reaches 96.6%", "change: 96.6%", False),
        ("reaches 96.5%", "change: 96.6%", True),
        ("has 61{,}706 weights", "change: 61,706", False),
        ("has 61,760 weights", "change: 61,706", True),
        ("only 7.6e-05", "change: 7.61e-05", False),
        ("only 7.7e-05", "change: 7.61e-05", True),
        ("about 97% of them", "change: 96.6%", False),  # words around: the range decides
    ],
)
def test_a_claimed_number_is_the_printed_one_as_rounded_in_the_text(text, printed, wrong):
    stated = re.search(r"about 97% of them|[0-9][0-9.,{}e%-]*", text).group(0)
    nb = {
        "cells": [
            {
                "id": "text",
                "cell_type": "markdown",
                "source": text,
                "metadata": {
                    "nnfs": {
                        "claims": [
                            {
                                "text": stated,
                                "cell": "run",
                                "pattern": r"change: ([-0-9.,e]+)",
                                "range": [-1e9, 1e9],
                            }
                        ]
                    }
                },
            },
            {
                "id": "run",
                "cell_type": "code",
                "metadata": {},
                "source": "run()",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": printed + "\n"}],
            },
        ]
    }
    problems = claim_problems(nb)
    assert bool(problems) == wrong, problems
    assert all("should state as" in p for p in problems)


def test_strip_outputs_keeps_what_tests_compare():
    nb = {
        "cells": [
            {
                "id": "a",
                "cell_type": "code",
                "metadata": {"tags": [NBVAL_TAG]},
                "source": "",
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "OK\n"}],
            },
            {
                "id": "b",
                "cell_type": "code",
                "metadata": {},
                "source": "",
                "execution_count": 2,
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "iVBOR", "text/plain": "<Figure>"},
                    },
                    {"output_type": "stream", "name": "stdout", "text": "loss 0.1\n"},
                ],
            },
            {
                "id": "c",
                "cell_type": "code",
                "metadata": {},
                "source": "",
                "execution_count": 3,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "noise\n"}],
            },
            {
                "id": "t",
                "cell_type": "markdown",
                "source": "loss 0.1",
                "metadata": {
                    "nnfs": {
                        "claims": [
                            {"text": "0.1", "cell": "b", "pattern": r"loss ([0-9.]+)", "range": [0.1, 0.1]}
                        ]
                    }
                },
            },
        ]
    }
    assert strip_outputs(nb) == 2
    a, b, c = nb["cells"][:3]
    assert a["outputs"][0]["text"] == "OK\n" and a["execution_count"] == 1
    assert b["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "loss 0.1\n"}]
    assert c["outputs"] == [] and c["execution_count"] is None
    assert strip_outputs(nb) == 0


@pytest.mark.parametrize("module", CHAPTERS)
def test_code_lines_fit_the_page(module):
    """As the book shows them (hidden tests cut out), no code line is wider than 88."""
    shown = json.loads(strip_notebook(json.dumps(notebook(module))))
    long = [
        (cell["id"], line)
        for cell in shown["cells"]
        if cell["cell_type"] == "code"
        for line in source(cell).splitlines()
        if len(line) > MAX_LINE
    ]
    assert long == [], f"{len(long)} code lines longer than {MAX_LINE}: {long[:5]}"


def test_check_cells_are_folded():
    nb = json.loads(strip_notebook(json.dumps(notebook("pooling"))))
    checks = [c for c in nb["cells"] if is_check_cell(c)]
    assert len(checks) >= 5
    for cell in checks:
        assert "hide-input" in cell["metadata"]["tags"]
        assert cell["metadata"]["mystnb"]["code_prompt_show"] == "Show the check"
    solutions = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert not any("hide-input" in c["metadata"].get("tags", []) for c in solutions)


def _alt(cell):
    return cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")


def is_real_alt(text):
    """Alt text that describes: a few words, not a file name or a placeholder."""
    return len(text.split()) >= 4 and not re.search(r"\.(png|svg|jpe?g)\b", text) and "TODO" not in text


@pytest.mark.parametrize("module", CHAPTERS)
def test_diagrams_are_drawn_by_code_next_to_their_text(module):
    """Each mechanism of item 2 has a figure drawn by a function of source_lib/diagrams,
    with alt text and a caption; the cell's code is hidden and the grader skips it."""
    nb = notebook(module)
    figures = {}
    for cell in nb["cells"]:
        name = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name", "")
        if "source_lib.diagrams" in source(cell) or "diagrams." in source(cell):
            assert name, f"{cell['id']}: a diagram without a figure name"
        if name:
            figures[name] = cell
    for wanted in DIAGRAMS[module]:
        found = [n for n in figures if wanted in n]
        assert found, f"book/{module}.ipynb: no diagram of {wanted!r} (figures: {sorted(figures)})"
    for name, cell in figures.items():
        meta = cell["metadata"]
        assert is_real_alt(_alt(cell)), f"{name}: alt text {_alt(cell)!r}"
        assert meta["mystnb"]["figure"].get("caption"), f"{name}: no caption"
        if "diagrams" in source(cell):
            assert {"remove-input", "grading-skip"} <= set(meta.get("tags", [])), name
