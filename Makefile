# The commands the README names. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium graphviz

.PHONY: setup system-packages test lint typecheck sam-check demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,train,web-test]'
	$(MAKE) --no-print-directory system-packages
	touch $(STAMP)

# Debian packages: Chromium for the browser tests, graphviz for the architecture diagrams.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml

typecheck: setup
	$(BIN)/mypy

# cfn-lint, sam validate --lint and sam build (python3.12): proves that the layer and functions package.
sam-check: setup
	infra/sam-build.sh

test: setup lint typecheck sam-check
	$(BIN)/pytest --cov --cov-report=term

demo: setup
	$(BIN)/drcaptcha demo

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .drcaptcha .pytest_cache .mypy_cache .ruff_cache .coverage .aws-sam
