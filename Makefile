# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# The tests' OpenID provider (Node): installed from its lockfile, again whenever the lock changes.
OIDC_DIR := tests/oidc
OIDC_STAMP := $(OIDC_DIR)/node_modules/.installed
# The AWS SDK for JavaScript v3 (tests/test_js_sdk.py): installed from its lockfile the same way.
JS_SDK_DIR := tests/js_sdk
JS_SDK_STAMP := $(JS_SDK_DIR)/node_modules/.installed

.PHONY: run test install postgresql chromium screenshots clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(OIDC_STAMP): $(OIDC_DIR)/package-lock.json $(OIDC_DIR)/package.json
	command -v node >/dev/null && command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --prefix $(OIDC_DIR) --no-audit --no-fund
	touch $(OIDC_STAMP)

$(JS_SDK_STAMP): $(JS_SDK_DIR)/package-lock.json $(JS_SDK_DIR)/package.json
	command -v node >/dev/null && command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --prefix $(JS_SDK_DIR) --no-audit --no-fund
	touch $(JS_SDK_STAMP)

# The tests' throwaway PostgreSQL server (tests/postgres.py), from Debian's package when missing.
# Debian puts its binaries in /usr/lib/postgresql/NN/bin, off PATH.
postgresql:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || (apt-get update && apt-get install -y postgresql)

# The browser tests' and screenshots' Chromium: Debian's package, driven by Playwright by its path
# (Playwright's own browser downloads are never used).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

run: $(STAMP)
	$(VENV)/bin/kubegate up $(ARGS)

# Two pytest workers (the machine's two cores), each test file on one worker with its own kubegate,
# PostgreSQL and OpenID provider; PYTEST_ARGS="-n 0" runs everything in one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile

test: $(STAMP) $(OIDC_STAMP) $(JS_SDK_STAMP) postgresql chromium
	$(VENV)/bin/pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

# docs/screenshots/*.png: each console page at 1280x800, from a private kubegate with example data.
screenshots: $(STAMP) chromium
	$(VENV)/bin/python tests/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) .kubegate $(OIDC_DIR)/node_modules $(JS_SDK_DIR)/node_modules
