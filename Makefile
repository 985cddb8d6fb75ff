# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs
# (virtualenv, packages, Kafka broker jars, a local broker) on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs venv clean bench bench-quick chaos

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "parafka needs Python 3.11+, $(PYTHON) is " + sys.version)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/parafka demo

# The benchmark suite against the bare client and the peers (about 35 minutes; its own local
# broker and the peers' virtualenvs): tables, bench/results/*.json and PNG plots.
bench: $(STAMP)
	$(BIN)/python -m bench

# The same in small sizes (a few minutes), as a smoke check.
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

# The chaos harness (about 10-12 min): its own brokers, every fault class (3 at a time, the
# broker faults in turn), a table, chaos/results/*.json. The 30-minute soak mixing every fault:
# make chaos CHAOS_ARGS="--soak 30"
CHAOS_ARGS ?= --duration 60 --seed 1 --parallel 3
chaos: $(STAMP)
	$(BIN)/python -m chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench chaos examples
	$(BIN)/ruff format --check src tests bench chaos examples
	$(BIN)/mypy

# The documentation site (README + docs/) into site/; --strict: a broken link fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint docs
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
