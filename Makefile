# The commands the README names. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium graphviz

.PHONY: setup system-packages test lint typecheck sam-check demo bench clean

setup: $(STAMP) web-vendor

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

# Two pytest-xdist workers: each test waits on the in-process moto server and Chromium as much as it computes, so
# one process keeps one core busy at best. Tests go out a file at a time (a file's fixtures are built once); the
# tiny networks are trained once for both workers (tests/fixtures/tiny_networks.py).
TEST_WORKERS ?= 2
test: setup lint typecheck sam-check
	$(BIN)/pytest --cov --cov-report=term -n $(TEST_WORKERS) --dist loadfile

demo: setup
	$(BIN)/drcaptcha demo

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .drcaptcha .pytest_cache .mypy_cache .ruff_cache .coverage .aws-sam

# The API docs viewer (swagger-ui-dist), copied from npm at build time into the ignored web/vendor/: the pages
# never load anything from a CDN.
WEB_VENDOR := web/vendor/swagger-ui
WEB_VENDOR_FILES := swagger-ui-bundle.js swagger-ui.css LICENSE

# axe-core, which the browser tests inject into every page and the widget in each state (tests/e2e/test_a11y.py);
# vendored the same way; the tests add it to the page from this file, and no page of the site loads it.
AXE_VENDOR := web/vendor/axe-core

.PHONY: web-vendor
web-vendor: $(WEB_VENDOR)/swagger-ui-bundle.js $(AXE_VENDOR)/axe.min.js

$(WEB_VENDOR)/swagger-ui-bundle.js:
	@command -v npm >/dev/null || { echo "make: npm not found; install it (apt-get install npm)"; exit 1; }
	npm install --no-audit --no-fund --silent --prefix .web-build swagger-ui-dist@5
	mkdir -p $(WEB_VENDOR)
	cd .web-build/node_modules/swagger-ui-dist && cp $(WEB_VENDOR_FILES) $(CURDIR)/$(WEB_VENDOR)/

$(AXE_VENDOR)/axe.min.js:
	@command -v npm >/dev/null || { echo "make: npm not found; install it (apt-get install npm)"; exit 1; }
	npm install --no-audit --no-fund --silent --prefix .web-build axe-core@4
	mkdir -p $(AXE_VENDOR)
	cd .web-build/node_modules/axe-core && cp axe.min.js LICENSE $(CURDIR)/$(AXE_VENDOR)/

# Bootstrap LocalStack (infra/localstack/compose.yaml) from the template, then run the integration suite there.
LOCALSTACK_URL ?= http://localhost:4566
.PHONY: localstack-test
localstack-test: setup
	@curl -fsS $(LOCALSTACK_URL)/_localstack/health >/dev/null || { \
	  echo "make: LocalStack is not reachable at $(LOCALSTACK_URL);" \
	       "start it with: docker compose -f infra/localstack/compose.yaml up -d --wait"; exit 1; }
	AWS_ENDPOINT_URL=$(LOCALSTACK_URL) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
	  $(BIN)/drcaptcha bootstrap
	AWS_ENDPOINT_URL=$(LOCALSTACK_URL) LOCALSTACK_URL=$(LOCALSTACK_URL) AWS_ACCESS_KEY_ID=test \
	  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 $(BIN)/pytest tests/integration -m "not slow" -ra

# Reliability and security (issue 10; docs/RELIABILITY.md). `fuzz`: a longer schemathesis campaign than the one in
# `make test` (FUZZ_EXAMPLES per route and mode, FUZZ_SEED to vary it). `audit`: bandit (no high finding, no
# unexplained medium) and pip-audit (skipped, and said so, where its advisory service is unreachable).
FUZZ_EXAMPLES ?= 300
FUZZ_SEED ?= 20261126
.PHONY: fuzz audit
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) $(BIN)/pytest tests/integration/test_fuzz.py -q -p no:cacheprovider

audit: setup
	$(BIN)/pytest tests/security -q -rs -p no:cacheprovider
