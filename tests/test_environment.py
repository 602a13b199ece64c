"""The environment scripts/setup.sh makes: the lock's versions, less what it excludes."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and line[0] != "#"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


EXCLUDED = {_canonical(n) for n in _names(REPO / "requirements-exclude.txt")}


def _pins() -> dict[str, str]:
    """Name -> version of every line of the lock whose marker holds on this machine."""
    pins = {}
    for line in _names(REPO / "requirements.lock"):
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            pins[requirement.name] = str(requirement.specifier).removeprefix("==")
    return pins


PINS = _pins()


@pytest.mark.parametrize("name", sorted(PINS))
def test_every_package_has_its_pinned_version(name: str) -> None:
    if _canonical(name) in EXCLUDED:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(name)
    else:
        assert metadata.version(name) == PINS[name]


def test_the_excluded_packages_are_pinned_ones() -> None:
    """An exclusion names a package of the lock (a typo would exclude nothing)."""
    assert EXCLUDED <= {_canonical(n) for n in PINS}


def test_importing_nbformat_loads_no_excluded_package() -> None:
    """Every `autograder` command, grading worker and Dask job imports nbformat."""
    code = "import sys, nbformat; print(*sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "rfc3987_syntax" not in loaded.stdout.split()
