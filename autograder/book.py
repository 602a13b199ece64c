"""Sphinx extension for the book: readers never see hidden tests or solutions.

Chapter notebooks in ``book/`` carry nbgrader's hidden-test regions (they name
the trusted checks) and may carry solution regions. Sphinx hands each source
file to the ``source-read`` event before MyST-NB parses, executes and renders
it; here those regions are cut out of every cell, exactly as nbgrader cuts
them from the student release.
"""
import json

REGIONS = (("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
           ("### BEGIN SOLUTION", "### END SOLUTION"))


def strip_regions(source):
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


def strip_notebook(text):
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        cell["source"] = strip_regions(_join(cell.get("source", "")))
    return json.dumps(nb, indent=1)


def _on_source_read(app, docname, content):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        content[0] = strip_notebook(content[0])


def setup(app):
    app.connect("source-read", _on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
