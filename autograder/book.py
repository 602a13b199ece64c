"""Sphinx extension for the book: no secrets shown, no stale outputs, no noise.

* Readers never see hidden tests or solutions. Chapter notebooks in ``book/``
  carry nbgrader's hidden-test regions (they name the trusted checks) and may
  carry solution regions. Sphinx hands each source file to the ``source-read``
  event before MyST-NB parses, executes and renders it; here those regions are
  cut out of every cell, exactly as nbgrader cuts them from the student release.

* Outputs follow ``source_lib``. MyST-NB's execution cache (jupyter-cache)
  matches a notebook by its code cells and its ``kernelspec`` metadata only, so
  it does not see the modules a notebook imports. Here each notebook's
  ``kernelspec`` gets a digest of the local modules it imports (``source_lib``
  or any other package of the book folder, followed through their own imports),
  so changing one of them misses the cache and runs again exactly the chapters
  that import it; and Sphinx is told to read those chapters again
  (``env-get-outdated``) even when the notebook file itself is unchanged.

* Chapters run side by side. Sphinx executes notebooks one after another, while it
  reads them; ``execute_ahead`` first runs, in a pool of processes, every notebook
  of the table of contents the execution cache has no record of, and records each
  in the cache exactly as MyST-NB would (the same stripped notebook, hashed the
  same way), so that Sphinx then finds them all there.

* Kernels start quiet: TensorFlow's start-up notices would be stderr output,
  which the strict build (``stderr_output: error``) rejects. They use the data
  shipped in packages (``NNFS_OFFLINE``), so that every build prints the same.

* Check cells (nbgrader's autograder tests) are folded: the page shows what a
  check printed, and its code behind a "Show the check" toggle.

* Pages load each script once (see ``_on_page_context``).

* The executed notebooks MyST-NB saves (``_build/jupyter_execute``) hold what this
  build's cells printed (``_save_what_is_rendered``), once
  (``_merge_streams_on_a_copy``): the tests compare them with the text's claims and
  with the committed outputs.

* The download button hands out the student notebook. The theme's ".ipynb"
  download serves Sphinx's copy of the page source (``_sources/book/<x>.ipynb``),
  which would be this instructor edition's notebook, hidden tests included; once
  the build is done it is replaced by the notebook students get
  (``student_text.student_notebook``: nbgrader's preprocessors cut solutions and hidden
  tests, outputs cleared, links to book pages and citations made absolute). The
  launch buttons (``repository.url``) open the student edition itself.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .imports import local_modules
from .regions import MARKER_PAIRS
from .sandbox.policy import ONE_THREAD, QUIET_TENSORFLOW, usable_cores

if TYPE_CHECKING:
    from sphinx.application import Sphinx

REGIONS = MARKER_PAIRS

# Notebook kernelspec key holding the digest of the local modules it imports.
DIGEST_KEY = "nnfs_local_modules"

# Set for the kernels the build starts (they inherit the build's environment), over
# whatever the caller's environment says, since they decide the numbers every build
# prints: NNFS_OFFLINE, the data shipped in packages (source_lib.data), online or not;
# one thread each (the chapters run side by side, one per core); and TensorFlow's
# kernels without oneDNN (QUIET_TENSORFLOW), unless a notebook turns them on itself,
# as Chapter 6 does for its Keras networks.
KERNEL_ENV = {**QUIET_TENSORFLOW, **ONE_THREAD, "NNFS_OFFLINE": "1"}


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


# OpenBLAS picks its kernels by processor: Chapter 5's 400 L-BFGS iterations printed a
# final cost of 0.3142 with the SkylakeX kernels and 0.3138 with the Zen or Haswell ones.
# The Haswell kernels (AVX2) run on every current x86-64 machine: the same numbers on all.
# (TensorFlow's own kernels tune their blocking to the processor's caches, which no
# setting pins, so Chapters 4 and 6 train with oneDNN's kernels held to AVX2: their
# notebooks set them before TensorFlow is imported; tests/test_determinism.py checks.)
if _has_avx2():
    KERNEL_ENV["OPENBLAS_CORETYPE"] = "Haswell"

# A check cell (nbgrader's autograder tests) shows its result; its code is folded.
CHECK_PROMPTS = {"code_prompt_show": "Show the check", "code_prompt_hide": "Hide the check"}


def is_check_cell(cell: dict[str, Any]) -> bool:
    """nbgrader's "autograder tests" cell: graded, not a solution, code."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and meta.get("grade") is True and not meta.get("solution")


def fold_check(cell: dict[str, Any]) -> None:
    """Tag a check cell so the page shows its output under a "Show the check" toggle."""
    meta = cell.setdefault("metadata", {})
    tags = meta.setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    meta.setdefault("mystnb", {}).update(CHECK_PROMPTS)


def strip_regions(source: str | Iterable[str]) -> str:
    """``source`` without the lines of hidden-test and solution regions (markers included)."""
    lines = source.split("\n") if isinstance(source, str) else list(source)
    kept, end = [], None
    for line in lines:
        if end is None:
            begin = next((e for b, e in REGIONS if b in line), None)
            if begin is not None:
                end = begin
                continue
            kept.append(line)
        elif end in line:
            end = None
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def _join(source):
    return source if isinstance(source, str) else "".join(source)


def strip_notebook(text: str, digest: str | None = None) -> str:
    """The notebook ``text`` with secret regions cut out and check cells folded;
    ``digest`` (if any) in its kernelspec."""
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        cell["source"] = strip_regions(_join(cell.get("source", "")))
        if is_check_cell(cell):
            fold_check(cell)
    kernelspec = nb.get("metadata", {}).get("kernelspec")
    if digest and isinstance(kernelspec, dict):
        kernelspec[DIGEST_KEY] = digest
    return json.dumps(nb, indent=1)


def _code_cells(text):
    nb = json.loads(text)
    return [_join(c.get("source", "")) for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def modules_digest(notebook_path: str | os.PathLike[str], text: str, srcdir: str | os.PathLike[str]) -> str:
    """Digest of the local modules the notebook ``text`` imports ("" if none)."""
    files = local_modules(notebook_path, _code_cells(text), srcdir)
    if not files:
        return ""
    h = hashlib.sha256()
    root = Path(srcdir).resolve()
    for f in files:
        name = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.name
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# --- Sphinx events -----------------------------------------------------------


def _is_notebook(app, docname):
    return str(app.env.doc2path(docname)).endswith(".ipynb")


def _digests(env):
    if not hasattr(env, "nnfs_module_digests"):
        env.nnfs_module_digests = {}
    return env.nnfs_module_digests


def _on_source_read(app, docname, content):
    if _is_notebook(app, docname):
        # content[0] is the file as read, which _on_get_outdated reads again later
        digest = modules_digest(app.env.doc2path(docname), content[0], app.srcdir)
        _digests(app.env)[docname] = digest
        content[0] = strip_notebook(content[0], digest)


def _on_get_outdated(app, env, added, changed, removed):
    """Notebooks whose local modules changed since they were last read."""
    outdated = []
    for docname, digest in _digests(env).items():
        if docname in added or docname in changed or docname in removed:
            continue
        path = Path(env.doc2path(docname))
        try:
            now = modules_digest(path, path.read_text(encoding="utf-8"), app.srcdir)
        except (OSError, ValueError):
            continue  # gone or unreadable: Sphinx's own checks decide
        if now != digest:
            outdated.append(docname)
    return outdated


def _on_purge_doc(app, env, docname):
    _digests(env).pop(docname, None)


def _on_merge_info(app, env, docnames, other):
    for docname in docnames:
        if docname in _digests(other):
            _digests(env)[docname] = _digests(other)[docname]


def _on_page_context(app, pagename, templatename, context, doctree):
    """Each script once per page.

    Sphinx 7.4 adds an inline script registered after the builder started
    (sphinx-thebe's ``const THEBE_JS_URL = ...``) a second time, with filename
    ``''`` instead of ``None``: the second copy stops with a SyntaxError
    ("already declared") in the browser's console.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", None),
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _on_build_finished(app, exception):
    """Replace the copied notebook sources (the download button's) by student notebooks."""
    if exception is not None or app.builder.format != "html" or not app.config.html_copy_source:
        return
    import nbformat

    from .student_text import bibliography, edition_config, student_notebook

    config, bib = edition_config(app.srcdir), bibliography(app.srcdir)
    suffix = app.config.html_sourcelink_suffix
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".ipynb":
            continue
        name = docname + source.suffix
        if suffix and not name.endswith(suffix):
            name += suffix
        target = Path(app.outdir) / "_sources" / name
        if target.parent.is_dir():
            nbformat.write(student_notebook(source, app.srcdir, config, bib), target)


def _check_cache_hashes_kernelspec():
    """The digest works only while jupyter-cache hashes the kernelspec: fail loudly if not."""
    from jupyter_cache.cache.main import JupyterCacheBase

    default = inspect.signature(JupyterCacheBase.create_hashed_notebook).parameters["nb_metadata"].default
    if default is not None and "kernelspec" not in default:
        from sphinx.errors import ExtensionError

        raise ExtensionError(
            "jupyter-cache no longer hashes the notebook's kernelspec: "
            "autograder/book.py must mark source_lib changes another way"
        )


def _merge_streams_on_a_copy():
    """MyST-NB merges a cell's stdout pieces into one output for the page, but in place:
    the executed notebook it then saves (``_build/jupyter_execute``, which the tests
    read) has the first piece holding all the text and the later pieces still there,
    so it prints everything twice. Merge a copy instead."""
    import copy

    from myst_nb.core import render

    merge = render.coalesce_streams
    if getattr(merge, "nnfs_on_a_copy", False):
        return

    def merge_a_copy(outputs):
        return merge(copy.deepcopy(outputs))

    merge_a_copy.nnfs_on_a_copy = True
    render.coalesce_streams = merge_a_copy


def _save_what_is_rendered():
    """MyST-NB saves the notebook it read as the executed one (``_build/jupyter_execute``),
    but when the execution cache has it, which ``execute_ahead`` makes always so, it
    renders a merged copy with the cache's outputs: the saved notebook then holds the
    outputs committed in git, not this build's, and the tests reading it would compare
    git with itself. Merge into the notebook read instead."""
    from myst_nb.core.execute.cache import NotebookClientCache

    start = NotebookClientCache.start_client
    if getattr(start, "nnfs_in_place", False):
        return

    def start_client(self):
        read = self._notebook
        start(self)
        if self._notebook is not read:
            read.clear()
            read.update(self._notebook)
            self._notebook = read

    start_client.nnfs_in_place = True
    NotebookClientCache.start_client = start_client


def kernel_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` as the book's kernels get it: ``KERNEL_ENV`` over it."""
    env = {**environ, **KERNEL_ENV}
    # The notebooks need the inline backend for their figures; a backend set
    # for the build's own process (MPLBACKEND=Agg) would leave them empty.
    env.pop("MPLBACKEND", None)
    return env


def _kernel_environment() -> None:
    """Set this process's environment for the kernels it starts (they inherit it)."""
    env = kernel_environment(os.environ)
    for name in os.environ.keys() - env.keys():
        del os.environ[name]
    os.environ.update(env)


def setup(app: Sphinx) -> dict[str, Any]:
    _merge_streams_on_a_copy()
    _save_what_is_rendered()
    _kernel_environment()
    _check_cache_hashes_kernelspec()
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _on_get_outdated)
    app.connect("env-purge-doc", _on_purge_doc)
    app.connect("env-merge-info", _on_merge_info)
    app.connect("html-page-context", _on_page_context)
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}


# --- executing ahead of Sphinx (``autograder book``) ---------------------------


def toc_notebooks(root: str | os.PathLike[str]) -> list[Path]:
    """The notebooks of the book in ``root``: the ``_toc.yml`` entries that are ``.ipynb`` files."""
    import yaml

    root = Path(root)
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file") and isinstance(value, str):
                    path = root / f"{value}.ipynb"
                    if path.is_file() and path not in found:
                        found.append(path)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")))
    return found


def as_sphinx_executes(path: Path, root: str | os.PathLike[str]) -> Any:
    """The notebook at ``path`` as MyST-NB hands it to the execution cache: read after
    ``_on_source_read`` (regions cut, checks folded, the modules' digest in its kernelspec)."""
    import nbformat

    text = path.read_text(encoding="utf-8")
    return nbformat.reads(strip_notebook(text, modules_digest(path, text, root)), as_version=4)


def _execute(
    nb: Any, path: str, timeout: int | None, allow_errors: bool
) -> tuple[str, Any, float, str | None]:
    """Run the notebook ``nb`` (as ``as_sphinx_executes`` read it from ``path``) in a pool
    process, as MyST-NB's cache mode does (``single_nb_execution``, in the notebook's
    folder): (path, executed notebook or None, seconds, error)."""
    from jupyter_cache.executors.utils import single_nb_execution

    _kernel_environment()
    try:
        result = single_nb_execution(
            nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=allow_errors
        )
    except Exception as exc:  # the kernel died, or would not start: what a cell error is not
        return path, None, 0.0, f"{type(exc).__name__}: {exc}"
    if result.err is not None:
        return path, None, result.time, result.exc_string or repr(result.err)
    return path, nb, result.time, None


# A chapter's demonstrations keep within a stated time: its notebook's metadata
# ``{"nnfs": {"budget_seconds": N}}``, seconds of execution on the idle 2-core reference
# machine with the book's other chapters running beside it (``autograder book``, one
# thread each). Tests check that every chapter states one; ``bench/book.py`` measures them.
BUDGET_KEY = ("nnfs", "budget_seconds")


def budget_seconds(nb: Any) -> float | None:
    """The execution budget a notebook states (``BUDGET_KEY``), or None."""
    value = nb.get("metadata", {}).get(BUDGET_KEY[0], {}).get(BUDGET_KEY[1])
    return float(value) if isinstance(value, int | float) and value > 0 else None


def timing(seconds: float, budget: float | None) -> str:
    """How a chapter's execution time reads in the build's log, against its budget."""
    if budget is None:
        return f"executed in {seconds:.1f} s"
    over = "" if seconds <= budget else ", over it (on a busy machine, or the chapter grew)"
    return f"executed in {seconds:.1f} s (budget {budget:g} s{over})"


def execute_ahead(
    root: str | os.PathLike[str], workers: int | None = None, say: Callable[[str], object] = print
) -> list[str]:
    """Execute the book's notebooks that miss MyST-NB's execution cache, ``workers`` at a
    time (default: one per core), and record them there; the errors of those that failed
    (empty if none did). Does nothing unless ``_config.yml`` executes from the cache."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from .student_text import book_config

    root = Path(root).resolve()
    execute = (book_config(root) or {}).get("execute") or {}
    if execute.get("execute_notebooks") != "cache":
        return []
    cache = get_cache(root / (execute.get("cache") or "_build/.jupyter_cache"))
    excluded = execute.get("exclude_patterns") or []
    missing = {}  # path -> the notebook to run, as hashed here
    for path in toc_notebooks(root):
        nb = as_sphinx_executes(path, root)
        if any(PurePosixPath(path.as_posix()).match(p) for p in excluded) or nb.metadata.get("mystnb"):
            continue  # as MyST-NB leaves it unexecuted, or has it say how it runs: Sphinx decides
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            missing[path] = nb
    if not missing:
        return []
    # The longest first (by their last run), so that the pool finishes together.
    last = {Path(r.uri): r.data.get("execution_seconds", 0) for r in cache.list_cache_records()}
    order = sorted(missing, key=lambda p: -last.get(p, float("inf")))
    workers = min(len(missing), workers or usable_cores())
    say(f"Executing {len(order)} notebook(s), {workers} at a time: {', '.join(p.stem for p in order)}")
    errors = []
    timeout, allow_errors = execute.get("timeout", 30), bool(execute.get("allow_errors", False))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(_execute, missing[p], str(p), timeout, allow_errors) for p in order]
        for run in as_completed(runs):
            path, nb, seconds, error = run.result()
            name = Path(path).relative_to(root).as_posix()
            if error is not None:
                errors.append(f"{name}: {error}")
                say(f"  {name} failed after {seconds:.1f} s")
                continue
            data = {"execution_seconds": seconds}
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, path, data=data), check_validity=False, overwrite=True
            )
            say(f"  {name} {timing(seconds, budget_seconds(nb))}")
    return errors


# --- the PDF (``autograder book --pdf``) ----------------------------------------

# Where the PDF lands in the HTML book; the introduction links to it.
PDF_NAME = "neural-networks-from-scratch.pdf"
# Debian's packages for the LaTeX build (.ci/run installs them).
TEX_PACKAGES = (
    "texlive-latex-recommended",
    "texlive-latex-extra",
    "texlive-fonts-recommended",
    "texlive-xetex",
    "texlive-plain-generic",
    "latexmk",
    "xindy",
    "fonts-freefont-otf",
)


def run_jupyter_book(
    root: str | os.PathLike[str], env: Mapping[str, str] | None = None, *options: str
) -> int:
    """``jupyter-book build root -W -n --keep-going *options`` (strict: any warning fails);
    its exit status."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(root), "-W", "-n", "--keep-going", *options]
    return subprocess.run(cmd, cwd=root, env=env).returncode


class PdfError(Exception):
    pass


def build_pdf(root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """The whole book as one PDF, from the same sources as the HTML, offline.

    Jupyter Book's LaTeX builder (XeLaTeX, for the book's Unicode) reuses the
    execution cache of the HTML build, so nothing runs twice. The PDF is copied
    next to the HTML pages (``PDF_NAME``), where the introduction links to it.
    Returns its path there.
    """
    root = Path(root)
    missing = [tool for tool in ("xelatex", "latexmk", "xindy", "make") if shutil.which(tool) is None]
    if missing:
        raise PdfError(
            f"{', '.join(missing)} not found: the PDF needs TeX Live "
            f"(apt-get install {' '.join(TEX_PACKAGES)})"
        )
    if run_jupyter_book(root, env, "--builder", "pdflatex") != 0:
        raise PdfError("the PDF build failed (see the messages above)")
    pdf = root / "_build" / "latex" / "book.pdf"
    if not pdf.is_file():
        raise PdfError(f"LaTeX ran but wrote no {pdf}")
    target = root / "_build" / "html" / PDF_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pdf, target)
    return target


# --- the external link check (``autograder links``) ---------------------------

BAD_LINKS = ("broken", "timeout")


def check_links(root: str | os.PathLike[str]) -> tuple[int | BaseException, list[dict[str, Any]]]:
    """Run Sphinx's linkcheck builder on the book in ``root``; return its results.

    Notebooks are read without being executed (the links are in their text),
    into ``_build/linkcheck`` with doctrees of their own, so the HTML build's
    environment and execution cache stay as they are. Returns
    ``(status, results)``: Sphinx's exit status (an exception if it crashed)
    and the list of checked links, dicts with ``filename``, ``lineno``,
    ``status`` (working, redirected, broken, timeout, ignored, ...), ``uri``
    and ``info``.
    """
    import warnings

    from jupyter_book.sphinx import build_sphinx
    from sphinx.deprecation import RemovedInSphinx80Warning

    root = Path(root).resolve()
    build = root / "_build"
    out = build / "linkcheck"
    config = root / "_config.yml"
    report = out / "output.json"
    report.unlink(missing_ok=True)  # never read a previous run's results
    with warnings.catch_warnings():
        # About Sphinx 8's defaults for 401 answers and timeouts: both count
        # as broken here whatever the book's configuration says.
        warnings.simplefilter("ignore", RemovedInSphinx80Warning)
        status = build_sphinx(
            root,
            out,
            doctreedir=build / ".doctrees-linkcheck",
            builder="linkcheck",
            noconfig=True,
            path_config=config if config.is_file() else None,
            confoverrides={
                "external_toc_path": (root / "_toc.yml").as_posix(),
                "nb_execution_mode": "off",
                "latex_individualpages": False,
            },
        )
    # sphinx-mathjax-offline copies MathJax (24 MB) into every builder's output.
    shutil.rmtree(out / "_static" / "mathjax", ignore_errors=True)
    results = (
        [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines() if line]
        if report.is_file()
        else []
    )
    return status, results
