# Two commands set everything up on a fresh Debian/Ubuntu machine:
#   make run    the desktop app (installs system packages, a virtual environment and the app)
#   make test   ruff and the whole test suite (installs the test and training extras too)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test setup-run setup-test lint package clean

run: setup-run
	$(PY) -m demixui $(ARGS)

test: setup-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

setup-run: $(VENV)/.run-installed
setup-test: $(VENV)/.test-installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml packaging/system-deps.sh | $(VENV)/bin/python
	packaging/system-deps.sh run
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml packaging/system-deps.sh demixui/bench/peer-packages.txt | $(VENV)/bin/python
	packaging/system-deps.sh test
	$(PY) -m pip install -q -e ".[train,dev,bench]"
	$(PY) -m pip install -q --no-deps -r demixui/bench/peer-packages.txt
	touch $@ $(VENV)/.run-installed

# A self-contained one-folder app in dist/demixui/ (PyInstaller, recipe in packaging/demixui.spec). Install it
# for this user with dist/demixui/install.sh; see packaging/README.md for macOS and Windows.
package: setup-test
	$(PY) -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/demixui.spec
	@du -sh dist/demixui

lint: setup-test
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
