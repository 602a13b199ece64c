"""nbval runs a chapter's graded cells; its slow demonstrations are the book build's.

Cells tagged ``grading-skip`` (training runs, experiments, their figures) are
executed, with errors and stderr failing the build, by the strict book build
in ``tests/test_book.py``; running them a second time under nbval would only
double the suite's time. No other cell depends on them (the autograder skips
them too), so nbval deselects them and checks everything else.

TensorFlow is quieted here once for every test and notebook (``sandbox/policy.py``).
"""

import os

from autograder.sandbox.policy import QUIET_TENSORFLOW

os.environ.update(QUIET_TENSORFLOW)


def _tags(item):
    cell = getattr(item, "cell", None)  # nbval's notebook cell items
    return cell.metadata.get("tags", []) if cell is not None else []


def pytest_collection_modifyitems(config, items):
    demo = [item for item in items if "grading-skip" in _tags(item)]
    if demo:
        config.hook.pytest_deselected(items=demo)
        items[:] = [item for item in items if item not in demo]
