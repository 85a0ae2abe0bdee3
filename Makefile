# Developer entry points. `make demo` and `make test` work on a fresh clone with Python >= 3.10;
# `make test` also runs the gateway tests when Node.js is installed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GATEWAY := tests/gateway

.PHONY: demo test lint bench demo-gateway gateway-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/repe demo

# Installs the Node gateway harness when node and npm exist; the gateway tests skip without node.
gateway-deps:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		if [ ! -d $(GATEWAY)/node_modules ] || [ $(GATEWAY)/package-lock.json -nt $(GATEWAY)/node_modules ]; then \
			npm ci --ignore-scripts --no-audit --no-fund --prefix $(GATEWAY); \
		fi; \
	else \
		echo "node not found: gateway tests will be skipped"; \
	fi

test: $(STAMP) gateway-deps
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check repe_bot cli tests bench
	$(BIN)/mypy repe_bot cli

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

demo-gateway: $(STAMP) gateway-deps
	$(BIN)/python -m tests.gateway_demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo $(GATEWAY)/node_modules
