"""What runs inside the jail, or sets it up: standard library only, copied in as a unit.

Rule: no module here imports anything of ``autograder`` outside this folder, nor any
third-party package, except numpy in the two modules that run in the student's
process and hand arrays to the student's functions (``probe_runner``, ``wire``):
the student's code needs numpy anyway. ``tests/test_layers.py`` asserts it.

- ``jail``: Linux namespaces, a throwaway root, an unprivileged user, rlimits, cgroup.
- ``kernel_launcher``: the ``nnfs-sandbox`` Jupyter kernel, started in the jail.
- ``probe_runner``: runs the trusted checks' probes in the student's process.
- ``wire``: the plain-value format results come back in.
- ``policy``: every limit and environment variable the sandbox gives student code.
- ``zygote``: forks jailed Python programs from a process that imported their libraries once.
"""
