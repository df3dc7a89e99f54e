# Countersign — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
WORKSPACE ?= demo-workspace
PORT ?= 8501
APT_PACKAGES := chromium poppler-utils

.PHONY: install system-deps test-servers demo run test test-fast lint bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(VENV)/.installed

# Debian's Chromium (browser tests) and poppler (PDF page previews); never a browser download.
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The MLflow test servers run from their own cached virtualenv (mlflow's pins clash with the portal's); built once.
test-servers: install
	$(BIN)/python -m tests.servers.mlflow_server

demo: install
	$(BIN)/countersign demo --workspace $(WORKSPACE)

run: demo
	@echo "Countersign portal on http://localhost:$(PORT) (demo workspace: $(WORKSPACE))"
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true \
	  --browser.gatherUsageStats false -- --workspace $(WORKSPACE)

test: install system-deps test-servers
	npm ci --prefix tests/browser/oidc --no-audit --no-fund --loglevel=error
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: install
	$(BIN)/ruff check .

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) $(WORKSPACE) test-output .pytest_cache
