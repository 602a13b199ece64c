"""nbgrader's side: what runs inside an ``nbgrader autograde`` of one submission.

Rule: imported by nbgrader (the course's ``nbgrader_config.py`` names these classes)
and by ``autograder.grading``, which starts ``autograde_one`` workers; uses the trusted
checks and ``autograder.probes`` / ``autograder.sandbox``, never the grading package.

- ``preprocessors``: the trusted checks decide grade cells; demonstrations skipped; output capped.
- ``cells``: tampered, deleted or duplicated cells restored and explained.
- ``kernel``: the kernel manager that starts the sandboxed kernel without fixed waits.
- ``autograde_one``: one submission through nbgrader, gradebook read only (a worker process).
- ``nbgrader_cli``: nbgrader's own commands, run with the course's environment.
- ``intake``: the sanitized copy of a submission, the only one nbgrader reads.
- ``notes``: the notes a student reads in their feedback.
- ``engines``: one SQLAlchemy engine per gradebook address in a process.
"""
