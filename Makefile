# The two commands of the README, each doing all set-up from a fresh clone.
#   make demo   - the demo migration end to end on the embedded PostgreSQL
#   make check  - every test: make test, then the optional parts installed where the machine allows
#                 (Spark, a browser) and the slow whole-cycle tests (make test-slow)
#   make test   - the quick loop: ruff, pytest (unit + integration, not the slow whole cycles), dbt parse, sqlfluff lint
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup spark browser lock demo test test-slow check lint bench clean

# requirements.lock pins every package to the version the tests passed with (a constraints file:
# pyproject.toml's ranges still decide what is needed); `make lock` refreshes it from a fresh resolve.
$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test]"
	touch $(INSTALLED)

setup: $(INSTALLED)

# The optional Spark comparison (reconcile.spark): pyspark, and the PostgreSQL JDBC driver jar from
# Debian's libpostgresql-jdbc-java when it is not there yet (Spark also needs Java 17 on PATH).
spark: setup
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test,spark]"
	test -f /usr/share/java/postgresql.jar || apt-get install -y -q libpostgresql-jdbc-java

lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[test]"
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^#'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf .lock-venv

demo: setup
	$(BIN)/migrate demo run $(DEMO_ARGS)

test: setup
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/migrate env up
	$(BIN)/dbt deps --profiles-dir profiles --project-dir . --quiet
	eval "$$($(BIN)/migrate env shell)" && $(BIN)/dbt parse --profiles-dir profiles --project-dir . --quiet
	# sqlfluff's parser recurses once per nested expression; two staging models need more than
	# Python's default depth of 1,000, so the lint runs with a higher limit.
	eval "$$($(BIN)/migrate env shell)" && $(BIN)/python -c "import sys; sys.setrecursionlimit(20000); from sqlfluff.cli.commands import cli; cli()" lint models macros kit/macros tests
	# The slowest tests named at the end: what to mark slow when the loop nears 15 minutes.
	$(BIN)/pytest -m "not slow" --durations=15

check: test
	$(MAKE) spark || echo "== the Spark extra could not be installed: the Spark tests skip =="
	$(MAKE) browser || echo "== no browser could be installed: the browser test skips =="
	$(MAKE) test-slow

test-slow: setup
	$(BIN)/migrate env up
	$(BIN)/pytest -m slow --durations=10

# A browser for the test that opens the dashboard and reports (it skips with one line without one).
browser:
	command -v chromium >/dev/null || apt-get install -y -q chromium

bench: setup
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/migrate env down
	rm -rf $(VENV) .migrate target logs reports
