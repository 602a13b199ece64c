"""Instructor tooling for Neural Networks from Scratch: release, grade, feedback, export.

Trust boundary: nothing in this package imports a student's code. Student code
runs in separate, resource-limited processes (``sandbox``); the trusted checks
(``checks``) compare what those processes return, as plain arrays, with the
instructor's ``source_lib``.
"""
