# The README's two commands: `make run` and `make test`. Both bootstrap .venv from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSETS := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install assets browser lint typecheck test-only bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The console's front-end libraries (ECharts, htmx), from the npm registry, pinned by package-lock.json.
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(ASSETS)

assets: $(ASSETS)

## run: install (Python and front-end), migrate the embedded database, build the demo brand if
## empty, serve the console and the API on :8000
run: $(STAMP) $(ASSETS)
	$(BIN)/siyu migrate
	$(BIN)/siyu demo --if-empty
	$(BIN)/siyu serve --host $(HOST) --port $(PORT) --banner

lint: $(STAMP)
	$(BIN)/ruff check src tests migrations
	$(BIN)/ruff format --check src tests migrations
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (headless) with Playwright; install it when missing and
# allowed (root with apt), else those tests say how to enable them (and fail under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		apt-get install -y -q chromium fonts-wqy-microhei >/dev/null 2>&1; } || \
		echo "chromium not installed: the browser tests will say how to enable them"

test-only: $(STAMP) $(ASSETS) browser
	$(BIN)/pytest $(PYTEST_ARGS)

## test: install, lint, type-check and run the whole suite
test: lint typecheck test-only

bench: $(STAMP)
	$(BIN)/siyu bench customers

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
