"""The class summary of an assignment: a score histogram and the pass rate of every test.

One self-contained HTML page per assignment (``assignments/reports/<assignment>.html``,
figures embedded), read back from the gradebook, so it also reflects manual grading when
written again with ``autograder report``.
"""

import base64
import html
import io
from pathlib import Path
from statistics import mean, median

from ..course import Chapter, Course
from .results import Row, short_id, table, task_order


def pass_rates(rows: list[Row]) -> dict[str, tuple[int, int]]:
    """grade id -> (students with full marks, students graded) for each test (``task_*`` cell)."""
    rates = {}
    for row in rows:
        for cell in row.cells:
            if not cell.grade_id.startswith("task_"):  # written answers are graded by hand
                continue
            full, total = rates.get(cell.grade_id, (0, 0))
            rates[cell.grade_id] = (full + (cell.score >= cell.max_score), total + 1)
    return rates


def load_plotting() -> None:
    """Import the plotting library (a second of CPU), off screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def _figure(rows, rates, title):
    load_plotting()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    max_score = rows[0].max_score
    left.hist(
        [r.score for r in rows],
        bins=min(20, max(1, int(max_score))),
        range=(0, max_score),
        color="#4c72b0",
        edgecolor="white",
    )
    left.set(xlabel=f"score (out of {max_score:g})", ylabel="students", title="Scores")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    ids = sorted(rates, key=task_order)
    right.bar([short_id(g) for g in ids], [100 * rates[g][0] / rates[g][1] for g in ids], color="#55a868")
    right.set(ylabel="% of students with full marks", ylim=(0, 100), title="Tests")
    right.tick_params(axis="x", rotation=45)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(course: Course, chapter: Chapter) -> Path | None:
    """Write the class summary of ``chapter``; returns its path, or None without submissions."""
    rows = table(course, [chapter])
    if not rows:
        return None
    rates = pass_rates(rows)
    scores = [r.score for r in rows]
    title = f"{chapter.assignment}: {chapter.title}"
    lines = "\n".join(
        f"<tr><td>{html.escape(g)}</td><td>{full}/{total}</td><td>{100 * full / total:.0f}%</td></tr>"
        for g, (full, total) in sorted(rates.items(), key=lambda kv: task_order(kv[0]))
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; margin: 2em; }} td, th {{ padding: 0.2em 1em; }}
img {{ max-width: 100%; }}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(rows)} submissions; score out of {rows[0].max_score:g}: mean {mean(scores):.2f},
median {median(scores):g}, lowest {min(scores):g}, highest {max(scores):g}.</p>
<img alt="score histogram and pass rate of each test" src="data:image/png;base64,{_figure(rows, rates, title)}">
<h2>Tests</h2>
<table><tr><th>test</th><th>full marks</th><th>pass rate</th></tr>
{lines}
</table></body></html>
"""
    path = course.nbgrader_root / "reports" / f"{chapter.assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
