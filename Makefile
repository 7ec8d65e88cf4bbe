# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
# The OpenID provider the sign-in tests start (npm's oidc-provider, tests/oidc_provider/).
OIDC_STAMP := tests/oidc_provider/node_modules/.installed

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/dialtone demo $(DEMO_ARGS)

$(OIDC_STAMP): tests/oidc_provider/package.json tests/oidc_provider/package-lock.json
	npm ci --prefix tests/oidc_provider --no-audit --no-fund --silent
	touch $@

test: $(DEV) $(OIDC_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .

bench: $(DEV)
	$(BIN)/python bench/evaluate.py --lines $(or $(LINES),1000000)

docs: $(STAMP)
	$(BIN)/python -m dialtone.engine.estate.reference > docs/estate.md
	$(BIN)/python -m dialtone.web.cli.reference > docs/cli.md
	$(BIN)/python -m dialtone.engine.policy_docs docs/policies
	$(BIN)/python -m dialtone.engine.collector_coverage

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo *.egg-info
