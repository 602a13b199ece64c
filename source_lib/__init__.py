"""Neural Networks from Scratch: the library students complete chapter by chapter.

One module per chapter (``feedforward``, ...) plus provided helpers:
``gradcheck`` (numerical gradients), ``checking`` (the tolerance policy of
the visible and the hidden checks), ``mistakes`` (the common mistakes their
messages name), ``data`` (offline-safe data loaders), ``_tasks`` (what an
unwritten task says) and ``update`` (``python -m source_lib.update RELEASE``
brings a new chapter's release into your working copy, keeping your work).
"""
