# The two commands of the quick start: `make demo` and `make test`. Both set up everything first:
# Debian packages (apt-get, only where missing), a virtual environment, the package.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test schemathesis bench torture dist cli-reference clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup-system
	scripts/setup-system
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

demo: setup
	$(PY) scripts/demo

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	$(PY) tests/http/schemathesis_run.py

# fuzz `memfs serve` from its /openapi.json (about 40 s); fails on any server error
schemathesis: setup
	$(PY) tests/http/schemathesis_run.py

# crashes, contention, full disks, locks, random operation sequences (a few minutes; also part
# of `make test`); ends with a table of writes acknowledged, found and lost
torture: setup
	MEMFS_TORTURE_ROUNDS=40 MEMFS_TORTURE_CYCLES=80 $(VENV)/bin/pytest -q tests/torture

bench: setup
	$(PY) scripts/bench

# the sdist and the wheel, built the PEP 517 way (setuptools fetched from the package index into
# an isolated build environment): dist/memfs_agents-VERSION.tar.gz and
# dist/memfs_agents-VERSION-py3-none-any.whl
dist: setup
	rm -rf dist
	$(PY) -m build --outdir dist .
	@ls -l dist

# docs/cli.md from the click commands (tests/docs/test_cli_reference.py fails when it is stale)
cli-reference: setup
	$(PY) scripts/cli-reference > docs/cli.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
