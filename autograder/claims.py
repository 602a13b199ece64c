"""What the book's text says its outputs show, checked against the outputs.

A number the prose states that comes from an experiment (an accuracy, a loss, a
time, a parameter count) is declared next to the sentence, in its markdown cell's
metadata, as a *claim*::

    "nnfs": {"claims": [{"text": "about 97%", "cell": "train",
                         "pattern": "test accuracy: ([0-9.]+)%", "range": [96.5, 97.5]}]}

``text`` occurs in that cell's prose; ``pattern`` is searched in the text output
of the code cell with id ``cell``; its first group is a number that must lie in
``range``. A claim marked ``"time": true`` states a time on the reference machine:
it gets slack for a loaded machine (``TIME_SLACK``). A claim whose text is a bare
number ("96.6%", "0.0113", "61,706", "7.6e-05") must also be what the output prints,
rounded as the text writes it (the sign aside: "lower by 22%" states -22%), since the
book's outputs are the same on every build: a range may not hide a misquoted digit.

The cells that claims name are the outputs the text discusses. Their committed
outputs (the developer's build) are kept in ``book/``, and a later build must
print the same (``same_outputs``): two builds agree. Every other output is
stripped before a commit (``strip_outputs``), except those nbval compares
(``nbval-check-output``): what is committed is what some test checks.
"""

import re
from dataclasses import dataclass
from typing import Any

NBVAL_TAG = "nbval-check-output"
# A timing claim holds on a loaded machine when the time is within these factors
# of the stated range (the book is built while other tests run).
TIME_SLACK = (0.5, 2.5)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Claim:
    where: str  # id of the markdown cell that states it
    text: str
    cell: str
    pattern: str
    range: tuple
    time: bool = False


def _source(cell):
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def claims(nb: dict[str, Any]) -> list[Claim]:
    """Every claim of notebook ``nb`` (a dict as nbformat reads it)."""
    found = []
    for cell in nb["cells"]:
        for c in cell.get("metadata", {}).get("nnfs", {}).get("claims", []):
            found.append(
                Claim(
                    cell.get("id", "?"),
                    c["text"],
                    c["cell"],
                    c["pattern"],
                    tuple(c["range"]),
                    bool(c.get("time", False)),
                )
            )
    return found


def _text_only(outputs):
    """The text of ``outputs``: streams, and results' text/plain (figures are the build's)."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            kept.append(out)
        elif "text/plain" in out.get("data", {}) and "image/png" not in out["data"]:
            kept.append({**out, "data": {"text/plain": out["data"]["text/plain"]}})
    return kept


def output_text(cell: dict[str, Any]) -> str:
    """The text a code cell printed: its streams and text/plain results, ANSI codes removed
    (a figure's text/plain, ``<Figure size ...>``, is not text it printed)."""
    parts = []
    for out in _text_only(cell.get("outputs", [])):
        source = out.get("text", "") if out.get("output_type") == "stream" else (out["data"]["text/plain"])
        parts.append(_source({"source": source}))
    return _ANSI.sub("", "".join(parts))


def claimed_value(claim: Claim, cell: dict[str, Any]) -> float | None:
    """The number ``claim.pattern`` finds in ``cell``'s output, or None."""
    match = re.search(claim.pattern, output_text(cell))
    if match is None:
        return None
    return float(match.group(1).replace(",", ""))


# a number as the prose writes it: thousands separated by commas (or LaTeX's ``{,}``),
# decimals, an exponent, a percent sign
_BARE_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(e[-+]\d+)?%?")


def misquoted(claim: Claim, value: float) -> str | None:
    """How ``claim``'s text misquotes ``value``, if its text is a bare number; else None."""
    text = claim.text.replace("{,}", ",")
    bare = _BARE_NUMBER.fullmatch(text)
    if claim.time or bare is None:
        return None
    whole, decimals, exponent = bare.groups()
    places = len(decimals) - 1 if decimals else 0
    written = f"{whole.replace(',', '')}{decimals or ''}{exponent or ''}"
    shown = f"{abs(value):.{places}e}" if exponent else f"{abs(value):.{places}f}"
    return None if shown == written else shown


def claim_problems(nb: dict[str, Any]) -> list[str]:
    """What is wrong with the claims of an executed notebook ``nb``: a list of sentences."""
    cells = {cell.get("id"): cell for cell in nb["cells"]}
    problems = []
    for claim in claims(nb):
        name = f"claim {claim.text!r} (cell {claim.where})"
        if claim.text not in _source(cells[claim.where]):
            problems.append(f"{name}: the text no longer says {claim.text!r}")
        if claim.cell not in cells:
            problems.append(f"{name}: no cell {claim.cell!r}")
            continue
        value = claimed_value(claim, cells[claim.cell])
        if value is None:
            problems.append(
                f"{name}: {claim.pattern!r} not found in the output of "
                f"{claim.cell!r}: {output_text(cells[claim.cell])[:200]!r}"
            )
            continue
        low, high = claim.range
        if claim.time:
            low, high = low * TIME_SLACK[0], high * TIME_SLACK[1]
        if not low <= value <= high:
            problems.append(
                f"{name}: the output of {claim.cell!r} shows {value:g}, outside {list(claim.range)}"
            )
        elif (shown := misquoted(claim, value)) is not None:
            problems.append(
                f"{name}: the output of {claim.cell!r} shows {value:g}, which the text "
                f"should state as {shown}"
            )
    return problems


def discussed_cells(nb: dict[str, Any]) -> set[str]:
    """Ids of the code cells the text's claims name."""
    return {claim.cell for claim in claims(nb)}


def _masked(claims_of_cell, text):
    """``text`` with the numbers of timing claims blanked: times differ between builds."""
    for claim in claims_of_cell:
        if claim.time:
            text = re.sub(claim.pattern, lambda m: m.group(0).replace(m.group(1), "<time>"), text)
    return text


def same_outputs(committed: dict[str, Any], executed: dict[str, Any]) -> list[str]:
    """Cells the text discusses whose output differs between two builds: a list of sentences.

    ``committed`` is the notebook as in git (outputs of an earlier build), ``executed``
    the same notebook as a later build ran it. Times are masked; every other
    character must agree.
    """
    by_id = {cell.get("id"): cell for cell in executed["cells"]}
    by_cell = {}
    for claim in claims(committed):
        by_cell.setdefault(claim.cell, []).append(claim)
    problems = []
    for cell in committed["cells"]:
        mine = by_cell.get(cell.get("id"))
        if not mine:
            continue
        before = _masked(mine, output_text(cell))
        after = _masked(mine, output_text(by_id.get(cell["id"], {})))
        if not before:
            problems.append(f"cell {cell['id']!r}: no committed output to compare with")
        elif before != after:
            problems.append(
                f"cell {cell['id']!r} printed something else:\n"
                f"--- committed\n{before}\n--- this build\n{after}"
            )
    return problems


def _nbval_checked(cell):
    return NBVAL_TAG in cell.get("metadata", {}).get("tags", [])


def strip_outputs(nb: dict[str, Any]) -> int:
    """Clear the outputs no test compares, in place (of discussed cells, keep the text).

    Returns how many cells changed.
    """
    discussed, changed = discussed_cells(nb), 0
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        before = (cell.get("outputs", []), cell.get("execution_count"))
        if not (_nbval_checked(cell) or cell.get("id") in discussed):  # no test compares them
            cell["outputs"], cell["execution_count"] = [], None
        elif not _nbval_checked(cell):
            cell["outputs"] = _text_only(cell.get("outputs", []))
        changed += before != (cell["outputs"], cell["execution_count"])
    return changed
