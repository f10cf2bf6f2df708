# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint bench fuzz bundle mutants clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m bundler.native
	$(BIN)/fhr vendor-web
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fhr demo

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for m in benchmarks/bench_*.py; do $(BIN)/python -m benchmarks.$$(basename $$m .py) || exit 1; done

fuzz: $(STAMP)
	$(BIN)/python -m benchmarks.fuzz_api

# Mutation testing (mutation/README.md): every configured module, or one with MODULE=name. Long; outside `make test`.
MUTANTS_STAMP := $(VENV)/.mutants-installed
$(MUTANTS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev,mutants]'
	touch $(MUTANTS_STAMP)

mutants: $(MUTANTS_STAMP)
	$(BIN)/python -m mutation.run $(MODULE)

bundle: $(STAMP)
	$(BIN)/fhr bundle

clean:
	rm -rf dist build .pytest_cache .mutants
