# The project's commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)

.PHONY: install run test migrate airflow stop bench lint requirements

install: $(STAMP)

# Reinstalls only when requirements.txt changes, so a second `make run` starts at once.
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	@echo "==> Creating $(VENV) and installing requirements.txt (first time only)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	@$(PY) -m devtools.local_run run $(if $(CONF),--conf '$(CONF)')

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

migrate: install
	@$(PY) -m devtools.local_run migrate

airflow: install
	@$(PY) -m devtools.local_run airflow

stop:
	@if [ -x $(PY) ]; then $(PY) -m devtools.local_run stop; else echo "Nothing to stop."; fi

# make bench [N=sales] [SCENARIO=default|small] [DSN=admin DSN of another server] [BENCH_ARGS=...]
bench: install
	@$(PY) -m bench $(if $(N),--sales $(N)) $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(DSN),--dsn '$(DSN)') $(BENCH_ARGS)

lint: install
	@$(PY) -m ruff check .

# Regenerates the pinned requirements.txt (development, CI) and requirements-runtime.txt (the
# Docker image) from requirements.in and requirements-runtime.in; the image gets the versions
# the tests ran with (requirements.txt is its constraint).
requirements: install
	@$(PY) -m pip install --quiet uv
	@$(PY) -m uv pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt
	@$(PY) -m uv pip compile --quiet --python-version 3.11 requirements-runtime.in -c requirements.txt -o requirements-runtime.txt
