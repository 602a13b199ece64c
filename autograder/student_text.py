"""How the book's text reads outside the book, for the release, the student edition and
the book's download button: the edition's settings (``_config.yml``), links made
absolute, citations as author-year text, solutions and hidden tests cut.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from nbformat import NotebookNode

PACKAGE_NAME = "nnfs-source-lib"
# What a notebook's setup cell installs when source_lib is not importable (Colab);
# NNFS_SOURCE_LIB overrides it (tests point it at a local copy of the edition).
INSTALL_ENV = "NNFS_SOURCE_LIB"


class EditionError(RuntimeError):
    """The student edition could not be made."""


# --- configuration -------------------------------------------------------------


@dataclass(frozen=True)
class EditionConfig:
    repository: str  # https://github.com/<owner>/<name> of the student edition
    release: str  # e.g. "2026.1"; the edition's git tag is v<release>
    baseurl: str  # where the book is published, ending in "/"

    @property
    def tag(self) -> str:
        return f"v{self.release}"

    @property
    def install_spec(self) -> str:
        """The pip requirement a notebook opened alone installs source_lib with."""
        return f"{PACKAGE_NAME} @ git+{self.repository}@{self.tag}"

    def page_url(self, page: str, anchor: str = "") -> str:
        """Absolute URL of the book page ``page`` (e.g. ``book/setup``)."""
        return f"{self.baseurl}{page}.html" + (f"#{anchor}" if anchor else "")

    @property
    def bibliography_url(self) -> str:
        return self.page_url("book/bibliography")


def book_config(root: str | os.PathLike[str]) -> dict[str, Any]:
    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8"))


def edition_config(root: str | os.PathLike[str]) -> EditionConfig:
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


def bibliography(root: str | os.PathLike[str]) -> dict[str, tuple[str, str]]:
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


def rewrite_markdown(
    text: str, config: EditionConfig, bib: Mapping[str, tuple[str, str]], page: str = "book/"
) -> str:
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


def rewrite_notebook(
    nb: NotebookNode, config: EditionConfig, bib: Mapping[str, tuple[str, str]], page: str = "book/"
) -> NotebookNode:
    """``rewrite_markdown`` on every markdown cell of ``nb`` (an nbformat notebook)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_markdown(cell.source, config, bib, page)
    return nb


def student_notebook(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    config: EditionConfig | None = None,
    bib: Mapping[str, tuple[str, str]] | None = None,
) -> NotebookNode:
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
