# The two commands of the README, each doing all set-up from a fresh clone.
#   make demo   - the demo migration end to end on the embedded PostgreSQL
#   make test   - every test: pytest (unit + integration), dbt parse, sqlfluff lint
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(INSTALLED)

setup: $(INSTALLED)

demo: setup
	$(BIN)/migrate demo run $(DEMO_ARGS)

test: setup
	$(BIN)/migrate env up
	eval "$$($(BIN)/migrate env shell)" && $(BIN)/dbt parse --profiles-dir profiles --project-dir . --quiet
	# sqlfluff's parser recurses once per nested expression; two staging models need more than
	# Python's default depth of 1,000, so the lint runs with a higher limit.
	eval "$$($(BIN)/migrate env shell)" && $(BIN)/python -c "import sys; sys.setrecursionlimit(20000); from sqlfluff.cli.commands import cli; cli()" lint models macros tests
	$(BIN)/pytest

bench: setup
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/migrate env down
	rm -rf $(VENV) .migrate target logs reports
