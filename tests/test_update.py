"""Carry-forward (#16, item 4): ``python -m source_lib.update RELEASE`` brings a new chapter
into the one working copy a student keeps for the course, never overwriting their work."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from autograder.course import CHAPTERS, Course
from autograder.regions import completed_text, find_regions, library_files, stub_text
from autograder.sandbox.policy import QUIET_TENSORFLOW

REPO = Path(__file__).resolve().parents[1]
COURSE = Course(REPO)
ENV = {
    **QUIET_TENSORFLOW,
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "NNFS_OFFLINE": "1",
}


def update(work, release, *args, check=True):
    """Run the command as a student does, from their working copy."""
    proc = subprocess.run(
        [sys.executable, "-m", "source_lib.update", str(release), *args],
        cwd=work,
        capture_output=True,
        text=True,
        env=dict(os.environ, **ENV),
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def solve(work, modules):
    """The student writes every task of ``modules``: the instructor's solution, spliced in."""
    for module in modules:
        text = (COURSE.source_lib / f"{module}.py").read_text()
        (work / "source_lib" / f"{module}.py").write_text(completed_text(text))


def snapshot(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and "update-backups" not in p.parts
    }


def run_all_until_the_first_error(folder, notebook):
    """Restart and Run All in Jupyter: cells in order, stopping at the first error.
    Returns (the failing cell, its error output) or (None, None)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(folder / notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute(env=dict(os.environ, **ENV))
    except CellExecutionError:
        for cell in nb.cells:
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                return cell, errors[0]
    return None, None


def test_a_working_copy_carries_every_chapter_forward(released, tmp_path):
    """Chapter 1's release is the working copy; the student solves each chapter, then brings
    in the next one's release: their solved modules and notebooks stay byte for byte, the new
    chapter's notebook and modules arrive as released, and the summary says what was kept.
    In Chapter 6, with Chapters 1-5 solved, Run All stops at Task 6.2's own message."""
    started = time.monotonic()
    work = tmp_path / "my-course"
    shutil.copytree(released.folder("release", CHAPTERS[0].assignment), work)
    solve(work, CHAPTERS[0].modules)
    for chapter in CHAPTERS[1:]:
        release = released.folder("release", chapter.assignment)
        before = snapshot(work)
        out = update(work, release).stdout
        after = snapshot(work)
        assert set(before) <= set(after)
        changed = {rel for rel in before if before[rel] != after[rel]}
        assert changed == set(), f"{chapter.module}: the update changed {sorted(map(str, changed))}\n{out}"
        assert after[Path(chapter.notebook)] == (release / chapter.notebook).read_bytes()
        assert f"  new      {chapter.notebook}" in out, out
        for module in chapter.modules:  # the stub as released
            assert (work / "source_lib" / f"{module}.py").read_bytes() == (
                release / "source_lib" / f"{module}.py"
            ).read_bytes()
        for earlier in CHAPTERS[: chapter.number - 1]:
            for module in earlier.modules:
                tasks = [r.task for r in find_regions(COURSE.source_lib / f"{module}.py")]
                assert f"  kept     source_lib/{module}.py (you have written Task" in out, out
                assert f"{tasks[-1]})" in out or f"{tasks[-1]};" in out, out
        if chapter.number == 6:
            cell, error = run_all_until_the_first_error(work, chapter.notebook)
            assert cell is not None and cell.metadata["nbgrader"]["grade_id"] == "task_6_2_loss", (
                cell and cell.source[:300],
                error,
            )
            assert error.ename == "NotImplementedError" and error.evalue == "Task 6.2: implement loss"
        solve(work, chapter.modules)
    # every chapter written, every provided module as released; again changes nothing
    for chapter in CHAPTERS:
        for module in chapter.modules:
            assert (work / "source_lib" / f"{module}.py").read_text() == completed_text(
                (COURSE.source_lib / f"{module}.py").read_text()
            )
    before = snapshot(work)
    out = update(work, release).stdout
    assert snapshot(work) == before and "0 new, 0 updated" in out, out
    print(f"six chapters carried forward in {time.monotonic() - started:.1f} s")


def fake_release(folder, edit=None):
    """A release folder like the course's: a notebook and the stubbed library."""
    lib = folder / "source_lib"
    lib.mkdir(parents=True)
    for path in library_files(COURSE.source_lib):
        target = lib / path.relative_to(COURSE.source_lib)  # diagrams/ is a subpackage
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(stub_text(path))
    (folder / "convolution.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    if edit:
        edit(folder)
    return folder


def test_the_update_rule_file_by_file(tmp_path):
    """What is copied, replaced (and saved) and kept, and what the summary says."""
    work = fake_release(tmp_path / "work")
    # the student: Task 2.1 written, the rest of convolution.py still stubs; pooling.py an
    # untouched stub of an older release (the stub line of before); notes in the notebook;
    # feedforward.py broken mid-edit; _tasks.py from before it existed
    conv = COURSE.source_lib / "convolution.py"
    text = conv.read_text()
    lines = text.split("\n")
    for region in reversed(find_regions(conv, text)):
        if region.function != "conv_output_size":
            lines[region.begin : region.end + 1] = [region.stub]
    (work / "source_lib" / "convolution.py").write_text(completed_text("\n".join(lines)))
    pooling = work / "source_lib" / "pooling.py"
    old_stub = pooling.read_text().replace(
        'NotImplementedError(unwritten("Task 3.1: implement max_pool_forward_naive"))',
        'NotImplementedError("Task 3.1: implement max_pool_forward_naive")',
    )
    assert old_stub != pooling.read_text()
    pooling.write_text(old_stub)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("my notes")])
    (work / "convolution.ipynb").write_text(nbformat.writes(notebook))
    (work / "source_lib" / "feedforward.py").write_text("def sigmoid(z:\n")
    (work / "source_lib" / "_tasks.py").unlink()

    def newer(folder):  # the new release: a provided helper changed, a new chapter notebook
        checking = folder / "source_lib" / "checking.py"
        checking.write_text(checking.read_text() + "\n# a fix of the provided code\n")
        (folder / "pooling.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))

    release = fake_release(tmp_path / "ch03_pooling", newer)
    before = snapshot(work)
    dry = update(work, release, "--dry-run").stdout
    assert snapshot(work) == before and dry.startswith("Would update"), dry
    out = update(work, release).stdout
    lines = out.splitlines()
    assert "  new      pooling.ipynb" in lines
    assert "  new      source_lib/_tasks.py" in lines
    assert "  updated  source_lib/checking.py (provided code)" in lines
    assert "  updated  source_lib/pooling.py (no task written in it)" in lines
    assert (
        "  kept     source_lib/convolution.py (you have written Task 2.1; still to write: "
        "2.2, 2.3, 2.4, 2.5, 2.6)" in lines
    )
    assert any(line.startswith("  kept     source_lib/feedforward.py (it does not parse") for line in lines)
    assert any(line.startswith("  kept     convolution.ipynb (yours differs") for line in lines)
    assert lines[-1].startswith("2 new, 2 updated, 3 kept"), out
    after = snapshot(work)
    for rel in ("source_lib/convolution.py", "source_lib/feedforward.py", "convolution.ipynb"):
        assert after[Path(rel)] == before[Path(rel)], rel
    for rel in ("source_lib/pooling.py", "source_lib/checking.py", "source_lib/_tasks.py", "pooling.ipynb"):
        assert after[Path(rel)] == (release / rel).read_bytes(), rel
    backup = work / "update-backups" / "ch03_pooling" / "source_lib" / "pooling.py"
    assert backup.read_bytes() == before[Path("source_lib/pooling.py")]
    # the working copy is not a release of itself
    proc = update(work, work, check=False)
    assert proc.returncode != 0 and "working copy itself" in proc.stderr


def test_a_written_task_is_never_replaced_whatever_it_holds(tmp_path):
    """The rule can fail: a task whose body is only the stub plus one line of the student's is
    written, and kept; the same module with nothing of theirs is replaced."""
    work = fake_release(tmp_path / "work")
    release = fake_release(
        tmp_path / "release",
        lambda f: (f / "source_lib" / "pooling.py").write_text(
            (f / "source_lib" / "pooling.py").read_text() + "\n# changed\n"
        ),
    )
    pooling = work / "source_lib" / "pooling.py"
    stub = 'raise NotImplementedError(unwritten("Task 3.2: implement max_pool_backward_naive"))'
    pooling.write_text(pooling.read_text().replace(stub, "x, pool_param = cache  # started\n    " + stub))
    out = update(work, release).stdout
    assert "  kept     source_lib/pooling.py (you have written Task 3.2; still to write: " in out, out
    assert "started" in pooling.read_text()
    pooling.write_text(pooling.read_text().replace("x, pool_param = cache  # started\n    ", ""))
    out = update(work, release).stdout
    assert "  updated  source_lib/pooling.py (no task written in it)" in out, out
    assert pooling.read_bytes() == (release / "source_lib" / "pooling.py").read_bytes()
