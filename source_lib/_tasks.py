"""What an unwritten task says when it is called (provided; standard library only).

In the student release every task starts as one line::

    raise NotImplementedError(unwritten("Task 2.1: implement conv_output_size"))

``unwritten`` returns the message that line raises. Called from its own
chapter (its module, the chapter's notebook, a check), that is the stub's own
words, ``Task 2.1: implement conv_output_size``. Called from a later chapter
(the code of a later chapter's module, such as Chapter 6's ``loss`` calling
Chapter 1's ``affine_forward``, or a notebook working with a later chapter's
module), it says that the later chapter uses this earlier work, and how to
bring it::

    Chapter 6 uses your Chapter 1 `affine_forward`: finish Task 1.6 in
    source_lib/feedforward.py, or copy your Chapter 1 `feedforward.py` into
    this source_lib

Replace the whole ``raise`` line with your code; nothing else refers to it.
"""
import re
import sys
import types

_TASK = re.compile(r"Task (\d+)\.(\d+): implement (\w+)")
_CHAPTER = re.compile(r"\s*Chapter (\d+)\b")
_PACKAGE = __name__.rpartition(".")[0]


def _module_chapter(name):
    """The chapter of the module ``name`` of this package (its docstring starts
    "Chapter N"), or None: a helper such as ``checking``, or another package."""
    if not name or name.rpartition(".")[0] != _PACKAGE:
        return None
    match = _CHAPTER.match(getattr(sys.modules.get(name), "__doc__", None) or "")
    return int(match.group(1)) if match else None


def _value_chapter(value):
    if isinstance(value, types.ModuleType):
        return _module_chapter(value.__name__)
    if isinstance(value, (types.FunctionType, type)):
        return _module_chapter(getattr(value, "__module__", None))
    return None


def _caller_chapter(frame):
    """The chapter on whose behalf ``frame`` (the stub's caller) runs, or None.

    Frames of provided helpers and of other packages (numpy, Keras, SciPy) are
    passed over: the first frame in a chapter's module decides, or the first in
    ``__main__`` (a notebook or a script), whose chapter is the latest one whose
    module or functions it has imported.
    """
    while frame is not None:
        names = frame.f_globals
        if names.get("__name__") == "__main__":
            return max(filter(None, map(_value_chapter, list(names.values()))), default=None)
        chapter = _module_chapter(names.get("__name__"))
        if chapter is not None:
            return chapter
        frame = frame.f_back
    return None


def unwritten(message: str) -> str:
    """The message of an unwritten task's ``NotImplementedError``.

    Args:
        message: the stub's own words, ``"Task N.M: implement <function>"``.

    Returns:
        ``message`` itself, or the later chapter's words when a later chapter
        called the stub (see the module's docstring).
    """
    match = _TASK.match(message)
    stub = sys._getframe(1)
    if not match:
        return message
    chapter, task, function = int(match.group(1)), f"{match.group(1)}.{match.group(2)}", match.group(3)
    caller = _caller_chapter(stub.f_back)
    if caller is None or caller <= chapter:
        return message
    module = stub.f_globals.get("__file__", "").replace("\\", "/").rpartition("/")[2] or "its module"
    return (f"Chapter {caller} uses your Chapter {chapter} `{function}`: finish Task {task} in "
            f"source_lib/{module}, or copy your Chapter {chapter} `{module}` into this source_lib")
