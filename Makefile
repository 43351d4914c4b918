# Entry points for a fresh machine with Python 3.11, make and git:
#   make demo                       - the console bot on a seeded demo school (SQLite)
#   make init PLATFORM=telegram     - install that platform, write config.toml, create the database
#   make run PLATFORM=telegram      - install that platform on first use and run the bot on it
#   make install EXTRAS=postgres    - install extras (any of pyproject's optional dependencies)
#   make test                       - lint, type-check and the whole test suite
# PLATFORM is console (the default, no extra) or any platform extra in pyproject.toml;
# EXTRAS adds more extras (space-separated), e.g. make run PLATFORM=telegram EXTRAS=postgres.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PLATFORM ?= console
EXTRAS ?=
RUN_ARGS ?=

# One stamp per installed extra; the console needs only the core.
stamp = $(VENV)/.installed-$(if $(filter console,$(1)),core,$(1))
WANTED := $(call stamp,$(PLATFORM)) $(foreach e,$(EXTRAS),$(call stamp,$(e)))

.PHONY: demo init run install test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip

$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e '.[test]'
	touch $@ $(VENV)/.installed-core

# Any other extra, by name: .venv/.installed-telegram installs classbot[telegram].
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e '.[$*]'
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/classbot demo

install: $(WANTED)

init: $(WANTED)
	$(BIN)/classbot init --platform $(PLATFORM)

run: $(WANTED)
	$(BIN)/classbot run --platform $(PLATFORM) $(RUN_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
