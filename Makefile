# cams-delete-instance: every target sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
PORT ?= 9000
# The FC runtime the package is built for: python3.10 (default) or python3.12.
RUNTIME ?= python3.10

# The target interpreter for `make package`, when neither pyenv nor PATH has it.
TARGET_PYTHON ?=

# Tests, the demo and the bench talk to loopback only, and a proxy would intercept even
# 127.0.0.1. Installs and builds keep the caller's proxy: some machines reach PyPI through one.
LOOPBACK_ONLY := env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy
export PYTHONPATH := $(CURDIR)/handler:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup fetch test lint typecheck unit test-runtimes demo serve package bench clean lock

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -r requirements-dev.txt
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# The package's dependencies for both runtimes, into uv's cache: the suite builds packages
# from it offline (it talks to loopback only), so the network is used here, not in a test.
fetch: setup
	$(PY) tools/build_package.py --fetch-only --runtime python3.10
	$(PY) tools/build_package.py --fetch-only --runtime python3.12

unit: fetch
	$(LOOPBACK_ONLY) $(PY) -m pytest

test: lint typecheck unit

# The suite again under the FC runtimes' interpreters (python3.10 and python3.12).
test-runtimes: fetch
	tools/test-runtime 3.10
	tools/test-runtime 3.12

demo: setup
	$(LOOPBACK_ONLY) $(PY) -m cams_local demo

serve: setup
	$(LOOPBACK_ONLY) $(PY) -m cams_local serve --port $(PORT)

package: setup
	$(PY) tools/build_package.py --runtime $(RUNTIME) --output dist/function.zip \
		$(if $(TARGET_PYTHON),--python $(TARGET_PYTHON))

bench: setup
	$(LOOPBACK_ONLY) $(PY) -m bench $(ARGS)

# Re-pin after editing requirements*.in.
lock: setup
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.10 --generate-hashes requirements.in -o requirements.txt
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.10 requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) .venv-py* dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
