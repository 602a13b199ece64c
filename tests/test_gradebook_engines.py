"""Every nbgrader ``Gradebook`` of a grading process shares one engine per address
(``autograder/nbgrader_ext/engines.py``): queries are compiled once, not once per
gradebook opened, and a closed gradebook leaves the engine usable for the next."""

import os
import sys
from pathlib import Path

import nbgrader.api
import pytest
from nbgrader.api import Gradebook

from autograder.nbgrader_ext import engines


@pytest.fixture
def kept(monkeypatch, tmp_path):
    # nbgrader asks alembic (a command beside this interpreter) for a new gradebook's version
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader.api.create_engine)
    monkeypatch.setattr(engines, "_KEPT", {})
    engines.keep_engines()
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def test_gradebooks_of_one_address_share_an_engine(kept, tmp_path):
    with Gradebook(kept) as first:
        first.add_student("s1")
        engine = first.engine
    with Gradebook(kept) as second:  # after the first one closed
        assert second.engine is engine
        assert [s.id for s in second.students] == ["s1"]
        second.add_student("s2")
    other = f"sqlite:///{tmp_path}/./gradebook.db"  # another address (of the same file)
    with Gradebook(other) as third:
        assert third.engine is not engine
    with Gradebook(kept) as fourth:
        assert sorted(s.id for s in fourth.students) == ["s1", "s2"]
