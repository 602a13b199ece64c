"""Neural Networks from Scratch: the library students complete chapter by chapter.

One module per chapter (``feedforward``, ...) plus provided helpers:
``gradcheck`` (numerical gradients), ``checking`` (the tolerance policy of
the visible and the hidden checks), ``mistakes`` (the common mistakes their
messages name) and ``data`` (offline-safe data loaders).
"""
