# trakt-dagster: `make run` starts Dagster with the bundled examples, `make test` runs the suite.
# Both build .venv on Python 3.12 from requirements.lock (exact versions) first.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
DAGSTER_HOME_DIR := $(CURDIR)/.dagster
HOST ?= 127.0.0.1
PORT ?= 3000
WEBHOOK_PORT ?= 9090

.PHONY: run test test-services venv lint lock bench clean

# Bytecode is compiled at install time: machines that set PYTHONDONTWRITEBYTECODE would otherwise
# recompile Dagster on every process start (seconds per run).
# The Jupyter kernel spec `trakt-dagster` (in .venv/share/jupyter/kernels) runs ductaflow notebooks on this
# venv's Python; trakt-dagster looks it up there by name, never in a kernel found elsewhere on the machine.

# Find a Python 3.12 interpreter: on pyenv machines the bare `python3.12` shim refuses until a
# version is selected, so the pyenv install folders are searched too.
define find_python312
for cand in "$${PYTHON312:-}" python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
  [ -n "$$cand" ] && "$$cand" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
    && { command -v "$$cand" || echo "$$cand"; } && exit 0; \
done; \
root=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv"); \
for cand in $$(ls -d "$$root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do \
  "$$cand" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo "$$cand" && exit 0; \
done; \
for v in $$(ls "$$root/versions" 2>/dev/null | grep '^3\.12' | sort -V -r); do \
  PYENV_VERSION=$$v python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null && exit 0; \
done; \
exit 1
endef

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@py=$$( { $(find_python312); } ) || { \
	  echo "error: Python 3.12 not found. trakt-dagster needs Python 3.12 (flowrun-dag requires it)." >&2; \
	  echo "       Install it (e.g. 'pyenv install 3.12') or set PYTHON312=/path/to/python3.12." >&2; exit 1; }; \
	echo "Using $$py"; \
	{ [ -x $(BIN)/python ] && $(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
	  || { rm -rf $(VENV) && "$$py" -m venv $(VENV); }; } && \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" && \
	$(BIN)/uv pip sync --compile-bytecode --python $(BIN)/python requirements.lock && \
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e . && \
	$(BIN)/python -m compileall -q trakt_dagster && \
	$(BIN)/python -m ipykernel install --prefix $(CURDIR)/$(VENV) --name trakt-dagster \
	  --display-name "Python 3 (trakt-dagster)" >/dev/null && \
	touch $(STAMP)

run: $(STAMP)
	@mkdir -p $(DAGSTER_HOME_DIR)
	@cp -n deploy/dagster.yaml $(DAGSTER_HOME_DIR)/dagster.yaml 2>/dev/null || true
	@# pit's webhook receiver (POST /webhook/<dag>) runs beside `dagster dev` and stops with it. A new instance is
	@# created and migrated once first, by one process, before the webserver, daemon, receiver and runs open it.
	export DAGSTER_HOME=$(DAGSTER_HOME_DIR) PATH=$(CURDIR)/$(BIN):$$PATH; \
	  $(BIN)/python -c 'from trakt_dagster.core.instance import prepare_dagster_home as p; p()' || exit 1; \
	  $(BIN)/python -m trakt_dagster.pit.webhook_server --root . --host $(HOST) --port $(WEBHOOK_PORT) & receiver=$$!; \
	  trap 'kill $$receiver 2>/dev/null; wait $$receiver 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml

test: $(STAMP) test-services
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest $(PYTEST_ARGS)

# Programs the tests need: PostgreSQL's server (tests start their own), git (pit's git-backed projects),
# Debian's Chromium (the browser test drives it through Playwright, which never downloads a browser).
test-services:
	@command -v git >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null; \
	  else echo "error: the tests need git: install the 'git' package" >&2; exit 1; fi; }
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing PostgreSQL (Debian package) for the tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "error: the tests need PostgreSQL's server programs (initdb, pg_ctl): install the 'postgresql' package" >&2; \
	    exit 1; \
	  fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Chromium (Debian package) for the browser test..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	  else \
	    echo "error: the browser test needs Chromium: install the 'chromium' package" >&2; \
	    exit 1; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check trakt_dagster tests bench

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/run_all.py

# Re-resolve requirements.in into the lock file (needs network access to PyPI).
lock: $(STAMP)
	$(BIN)/uv pip compile --python-version 3.12 --no-header requirements.in -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache runs
