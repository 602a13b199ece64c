"""The student edition (``autograder edition``), the book's launch and download buttons,
and the notebooks' setup cell as Colab and Binder run them.

Colab and Binder are played offline: fresh environments made by uv from its cache
(``scripts/setup.sh`` fills it), real kernels of those environments, pip with no index.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.course import CHAPTERS, Course
from autograder.edition import (
    INSTALL_ENV,
    PACKAGE_NAME,
    bibliography,
    edition_config,
    rewrite_markdown,
    setup_cell_spec,
)
from autograder.release import find_leaks, release_texts, secret_lines
from autograder.sandbox.policy import QUIET_TENSORFLOW
from conftest import REPO, _ignore, autograder

UV = Path(sys.executable).with_name("uv")
LOCK = REPO / "requirements.lock"
# What Colab has preinstalled that the setup cells import (its versions differ; ours are
# the lock's, as constraints).
COLAB = ["numpy", "matplotlib", "scipy", "threadpoolctl", "ipykernel"]
# A relative markdown link to a book page, as written in book/ (dead outside the book).
RELATIVE_BOOK_LINK = re.compile(r"\]\((?![a-z][\w+.-]*:|#|/)[^)\s]*\.(?:md|ipynb)(?:#[^)\s]*)?\)")
OFFLINE_PIP = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_NO_INDEX": "1",
    "PIP_FIND_LINKS": "",
    # pip reads this variable inverted: "0" means --no-build-isolation (the
    # build uses the environment's setuptools, as it cannot fetch one)
    "PIP_NO_BUILD_ISOLATION": "0",
}


@pytest.fixture(scope="module")
def edition(student_edition):
    return student_edition  # made once for the session, in conftest.py


def _fresh_env(folder, *requirements):
    """A new virtual environment made offline from uv's cache; returns its python."""
    venv = Path(folder)

    def run(*args):
        return subprocess.run([str(UV), *args], capture_output=True, text=True)

    made = run("venv", "--quiet", "--offline", "--seed", "--python", sys.executable, str(venv))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    done = run(
        "pip",
        "install",
        "--quiet",
        "--offline",
        "--python",
        str(python),
        "--constraint",
        str(LOCK),
        *requirements,
    )
    assert done.returncode == 0, "uv's cache lacks a package (run scripts/setup.sh):\n" + done.stderr
    return python


def _kernel(python, folder, name):
    """A kernelspec ``name`` for ``python``, in ``folder`` (put on JUPYTER_PATH)."""
    spec = Path(folder) / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": name,
                "language": "python",
            }
        )
    )


def _run(nb, kernel, cwd, env, **options):
    client = NotebookClient(
        nb, timeout=300, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}}, **options
    )
    return client.execute(env=env)


def _kernel_env(**more):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(QUIET_TENSORFLOW, NNFS_OFFLINE="1", **more)
    return env


def _text(outputs):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


# --- the edition ---------------------------------------------------------------------


def test_edition_is_a_student_repository_without_secrets(edition):
    course, dest = edition
    config = edition_config(course.root)
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    for chapter in CHAPTERS:
        assert f"book/{chapter.notebook}" in files
        for module in chapter.modules:
            text = (dest / "source_lib" / f"{module}.py").read_text()
            assert "BEGIN SOLUTION" not in text
            assert re.search(r'raise NotImplementedError\(.*"Task \d+\.\d+: implement', text), module
    assert {
        "README.md",
        "pyproject.toml",
        ".gitignore",
        "binder/requirements.txt",
        "binder/runtime.txt",
        "binder/postBuild",
    } <= files
    # only the notebooks, the library and the files written for students
    assert {f.split("/")[0] for f in files} == {
        "book",
        "source_lib",
        "binder",
        "README.md",
        "pyproject.toml",
        ".gitignore",
    }
    assert not any(f.endswith((".db", "nbgrader_config.py")) for f in files)
    pyproject = (dest / "pyproject.toml").read_text()
    assert f'name = "{PACKAGE_NAME}"' in pyproject and f'version = "{config.release}"' in pyproject
    assert 'dependencies = ["numpy", "matplotlib", "scipy"]' in pyproject
    lock = set(LOCK.read_text().splitlines())
    pins = [
        line
        for line in (dest / "binder/requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert set(pins) <= lock and len(pins) > 20
    names = {re.split(r"[=; ]", p)[0].lower() for p in pins}
    assert {"numpy", "matplotlib", "tensorflow-cpu", "ipykernel", "scikit-learn"} <= names
    assert not names & {"nbgrader", "jupyter-book", "pytest", "selenium", "distributed"}
    for nb_path in (dest / "book").glob("*.ipynb"):
        text = nb_path.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    readme = (dest / "README.md").read_text()
    assert config.install_spec in readme and "Binder" in readme and "Colab" in readme
    secrets = secret_lines(course)
    assert len(secrets) > 20
    assert find_leaks(release_texts(dest), secrets) == []


def test_edition_leak_search_covers_every_file(edition, tmp_path):
    """The search the command ends with finds a secret line in any file of the tree."""
    course, dest = edition
    copy = tmp_path / "copy"
    shutil.copytree(dest, copy)
    secret = sorted(s for s in secret_lines(course) if len(s) > 30)[0]  # a solution line
    with open(copy / "binder" / "postBuild", "a") as fh:  # a file with no suffix
        fh.write(f"# {secret}\n")
    leaks = find_leaks(release_texts(copy), secret_lines(course))
    assert [(Path(w).relative_to(copy).as_posix(), line) for w, line in leaks] == [
        ("binder/postBuild", secret)
    ]


def test_edition_refuses_a_folder_that_is_not_an_edition(edition, tmp_path):
    course, _ = edition
    (tmp_path / "mine.txt").write_text("keep me")
    proc = autograder(course, "edition", tmp_path, check=False)
    assert proc.returncode == 1 and "not empty" in proc.stdout + proc.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_edition_refuses_setup_cells_of_another_release(tmp_path):
    """One source of truth: the setup cells must install the release _config.yml names."""
    course = Course(tmp_path / "nnfs")
    shutil.copytree(REPO, course.root, ignore=_ignore)
    config = course.root / "_config.yml"
    release = edition_config(course.root).release
    config.write_text(config.read_text().replace(f'release: "{release}"', 'release: "2099.1"'))
    proc = autograder(course, "edition", tmp_path / "out", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "setup cell of book/feedforward.ipynb does not install" in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


def test_release_notebooks_link_to_the_published_book_and_cite_readably(edition):
    course, dest = edition
    config, bib = edition_config(course.root), bibliography(course.root)
    # the check can fail: the book's own notebooks have both
    book_text = (course.book / "convolution.ipynb").read_text()
    assert RELATIVE_BOOK_LINK.search(book_text) and "{cite" in book_text
    linked = set()
    for chapter in CHAPTERS:
        nb = nbformat.read(dest / "book" / chapter.notebook, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            assert not RELATIVE_BOOK_LINK.search(cell.source), (chapter.module, cell.source)
            assert "{cite" not in cell.source, (chapter.module, cell.source)
            linked |= set(re.findall(re.escape(config.baseurl) + r"([\w/]+)\.html", cell.source))
    # every chapter links to a page of the configured book, and each page exists
    assert {"book/setup", "book/intro", "book/feedforward", "book/bibliography"} <= linked
    for page in linked:
        assert any((course.root / f"{page}{s}").is_file() for s in (".md", ".ipynb")), page
    # the rewriting itself
    out = rewrite_markdown(
        "see [Setting up](setup.md), [Ch. 1](feedforward.ipynb#the-loss) "
        "and {cite:p}`lecun1989backpropagation,he2016deep`; "
        "{cite:t}`glorot2010understanding` [web](https://example.org/a.md)",
        config,
        bib,
    )
    bibpage = f"{config.baseurl}book/bibliography.html"
    assert out == (
        f"see [Setting up]({config.baseurl}book/setup.html), "
        f"[Ch. 1]({config.baseurl}book/feedforward.html#the-loss) "
        f"and ([LeCun et al., 1989]({bibpage}); [He et al., 2016]({bibpage})); "
        f"[Glorot and Bengio (2010)]({bibpage}) [web](https://example.org/a.md)"
    )


# --- the setup cell ---------------------------------------------------------------


def test_setup_cells_install_the_release_named_in_the_config():
    spec = edition_config(REPO).install_spec
    assert spec.endswith("@v" + edition_config(REPO).release)
    for chapter in CHAPTERS:
        cell = nbformat.read(REPO / "book" / chapter.notebook, as_version=4).cells[1]
        assert cell.cell_type == "code"
        assert setup_cell_spec(cell.source) == spec, chapter.module
        assert f'os.environ.get("{INSTALL_ENV}", SOURCE_LIB)' in cell.source, chapter.module


def test_colab_a_notebook_alone_installs_the_student_source_lib(edition, tmp_path, monkeypatch):
    """As on Colab: each chapter's notebook alone in an empty folder, a fresh environment
    with only what Colab preinstalls, no index: its setup cell installs the edition's
    source_lib (here from a local copy) and the chapter imports the stubs; an install
    that fails says so."""
    _, dest = edition
    python = _fresh_env(tmp_path / "venv", *COLAB)
    _kernel(python, tmp_path / "jupyter", "colab")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # the install can fail (here: no such folder, and no index): the cell says why
    alone = tmp_path / "alone"
    alone.mkdir()
    nb = nbformat.read(dest / "book" / CHAPTERS[0].notebook, as_version=4)
    nb.cells = nb.cells[:2]
    with pytest.raises(CellExecutionError, match="pip could not install source_lib"):
        _run(nb, "colab", alone, _kernel_env(**{INSTALL_ENV: str(tmp_path / "missing")}, **OFFLINE_PIP))
    env = _kernel_env(**{INSTALL_ENV: str(dest)}, **OFFLINE_PIP)
    for n, chapter in enumerate(CHAPTERS):
        folder = tmp_path / chapter.module
        folder.mkdir()
        shutil.copy(dest / "book" / chapter.notebook, folder)
        nb = nbformat.read(folder / chapter.notebook, as_version=4)
        nb.cells = nb.cells[:2] + [
            nbformat.v4.new_code_cell(
                "import source_lib, importlib\n"
                f"module = importlib.import_module('source_lib.{chapter.module}')\n"
                "print(source_lib.__file__)\n"
                "import re\n"
                "print(len(re.findall(r'raise NotImplementedError\\(.*\"Task', open(module.__file__).read())))"
            )
        ]
        nb = _run(nb, "colab", folder, env)
        said = _text(nb.cells[1].outputs)
        if n == 0:  # the first installs it and says so in one line
            assert said == f"source_lib not found: installing {dest}\n"
        else:  # the others find it installed
            assert said == ""
        where, stubs = _text(nb.cells[2].outputs).split()
        assert where.startswith(str(tmp_path / "venv")) and "site-packages" in where
        assert int(stubs) >= 1
        assert sorted(p.name for p in folder.iterdir()) == [chapter.notebook]


# --- Binder ------------------------------------------------------------------------


def _first_task(nb):
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        found = re.match(r"task_(\d+)_(\d+)_", grade_id)
        if cell.cell_type == "code" and found:
            return index, f"Task {found[1]}.{found[2]}:"
    raise AssertionError("no task")


def test_binder_runs_each_chapter_to_its_first_task(edition, tmp_path, monkeypatch):
    """As on Binder: an environment from the edition's binder/ files only (its
    requirements.txt, then its postBuild), every notebook run from book/ until its first
    task stops it with that task's NotImplementedError; no solution importable."""
    course, dest = edition
    tree = tmp_path / "repo"  # Binder's checkout of the edition
    shutil.copytree(dest, tree)
    python = _fresh_env(tmp_path / "venv", "-r", str(tree / "binder" / "requirements.txt"))
    env = dict(_kernel_env(), PATH=f"{python.parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run([str(tree / "binder" / "postBuild")], cwd=tree, env=env, check=True)
    _kernel(python, tmp_path / "jupyter", "binder")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # from any folder, source_lib is the edition's stubs and the instructor tools are absent
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util, source_lib.feedforward as f; "
            "print(f.__file__, importlib.util.find_spec('autograder'))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == [str(tree / "source_lib" / "feedforward.py"), "None"]
    failures = []
    for chapter in CHAPTERS:
        nb = nbformat.read(tree / "book" / chapter.notebook, as_version=4)
        index, task = _first_task(nb)
        try:
            _run(nb, "binder", tree / "book", env)
        except CellExecutionError as exc:
            stopped = next(
                i
                for i, c in enumerate(nb.cells)
                if any(o.output_type == "error" for o in c.get("outputs", []))
            )
            # the task's own message, or the earlier task it builds on that is missing
            names_a_task = task in exc.evalue or re.search(r"finish Task \d+\.\d+", exc.evalue)
            if not (stopped == index and exc.ename == "NotImplementedError" and names_a_task):
                failures.append(
                    f"{chapter.module}: stopped at cell {stopped} with {exc.ename}: "
                    f"{exc.evalue} (expected cell {index}, {task})"
                )
        else:
            failures.append(f"{chapter.module}: ran to the end on the stubs")
    assert failures == []


# --- the book's buttons ------------------------------------------------------------


def test_launch_and_download_buttons_open_the_student_edition(book_html, course_copy):
    config = edition_config(course_copy.root)
    owner_name = config.repository.removeprefix("https://github.com/")
    secrets = secret_lines(course_copy)
    for chapter in CHAPTERS:
        page = book_html / "book" / f"{chapter.module}.html"
        html = page.read_text()
        hrefs = set(re.findall(r'href="([^"]+)"', html))
        binder = [h for h in hrefs if "mybinder.org" in h]
        colab = [h for h in hrefs if "colab.research.google.com" in h]
        assert binder and colab, chapter.module
        for url in binder:
            assert f"/v2/gh/{owner_name}/" in url and f"book/{chapter.notebook}" in url, url
        for url in colab:
            assert f"/github/{owner_name}/blob/" in url and url.endswith(f"book/{chapter.notebook}"), url
        github = [h for h in hrefs if "github.com/" in h and "colab" not in h]
        assert all(h.startswith(config.repository) for h in github), github  # no other repo
        assert not any("/edit/" in h for h in hrefs), "edit button"
        download = [h for h in hrefs if h.endswith(f"_sources/book/{chapter.notebook}")]
        assert download, chapter.module
        nb_path = (page.parent / download[0]).resolve()
        text = nb_path.read_text()
        nb = nbformat.reads(text, as_version=4)
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
        assert find_leaks([(str(nb_path), text)], secrets) == []
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert "{cite" not in text and not RELATIVE_BOOK_LINK.search(text)
        assert any(c.metadata.get("nbgrader", {}).get("grade") for c in nb.cells)
