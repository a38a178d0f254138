# Two commands do all the set-up on a fresh machine:
#   make run   — virtual environment, install, migrate, seed the demo (and, into an empty
#                database only, a month of history: 240 items), serve on 127.0.0.1
#   make test  — install test needs, then ruff, mypy --strict and pytest (SQLite and PostgreSQL)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hotline db upgrade
	$(BIN)/hotline demo seed --months 3 --cases 360
	$(BIN)/hotline serve

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
