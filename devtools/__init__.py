"""Local tooling: embedded PostgreSQL, SMTP catcher, demo source, `make run`.

Nothing here is imported by the DAGs; it serves the Makefile, the tests and the benchmark.
"""
