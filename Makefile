# Countersign — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
WORKSPACE ?= workspace
PORT ?= 8501
ADDRESS ?= 127.0.0.1
APT_PACKAGES := chromium poppler-utils postgresql openjdk-17-jre-headless jq

.PHONY: install install-runtime system-deps test-servers demo run test test-fast lint bench wheel clean

PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# Run time: the portal and the CLI (requirements.txt), the package itself editable.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

# Development: the run-time set plus tests, benchmarks and linters (requirements-dev.txt).
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

install-runtime: $(VENV)/.runtime

install: $(VENV)/.dev

# Debian's Chromium (browser tests), poppler (PDF page previews), PostgreSQL (the catalog tests start their own
# server), Java 17 (the Spark engine's tests) and jq (benchmarks/backfill.py's floor); never a browser download.
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The MLflow and ZenML test servers run from their own cached virtualenvs (their pins clash with the portal's);
# built once per machine.
test-servers: install
	$(BIN)/python -m tests.servers.mlflow_server
	$(BIN)/python -c "from tests.connectors.zenml_server import ensure_venv; ensure_venv()"

demo: install-runtime
	$(BIN)/countersign demo --workspace $(WORKSPACE)

run: demo
	$(BIN)/countersign serve --workspace $(WORKSPACE) --port $(PORT) --address $(ADDRESS)

test: install system-deps test-servers
	npm ci --prefix tests/browser/oidc --no-audit --no-fund --loglevel=error
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=40

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

# The wheel users install (app.py, app_pages/, portal/, countersign_cli/, governance/, connectors/ inside): dist/countersign-*.whl
wheel: install-runtime
	rm -rf build  # setuptools would copy stale files left there into the wheel
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) $(WORKSPACE) test-output .pytest_cache build dist *.egg-info
