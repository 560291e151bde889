# The README's two commands: `make run` and `make test`. Both bootstrap .venv from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint typecheck test-only bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install, migrate the embedded database, build the demo brand if empty, serve on :8000
run: $(STAMP)
	$(BIN)/siyu migrate
	$(BIN)/siyu demo --if-empty
	$(BIN)/siyu serve --host $(HOST) --port $(PORT) --banner

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

test-only: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## test: install, lint, type-check and run the whole suite
test: lint typecheck test-only

bench: $(STAMP)
	$(BIN)/siyu bench customers

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
