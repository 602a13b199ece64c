"""Neural Networks from Scratch: the library students complete chapter by chapter.

One module per chapter (``feedforward``, ...) plus provided helpers:
``gradcheck`` (numerical gradients), ``checking`` (the notebooks' visible
checks) and ``data`` (offline-safe data loaders).
"""
