# CareNav: `make run` and `make test` set everything up on a fresh machine (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CARENAV := $(VENV)/bin/carenav
RASA := $(VENV)/bin/rasa
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install store model run test lint test-stories eval eval-safety clean pg-start pg-stop browser

help:
	@echo "make run    set up (venv, store, model) and start the assistant on localhost"
	@echo "make test   set up and run the whole test suite (what CI runs)"
	@echo "make lint   ruff and mypy over the code (CI runs it too)"
	@echo "make eval   NLU accuracy on the held-out set, ours against Rasa's default pipeline"
	@echo "make eval-safety   emergency recall per category and language, false alarms (screen, CareNav, Rasa default)"
	@echo "make test-stories   play the dialogue test stories (tests/stories/) and write results/report.html"

$(STAMP): pyproject.toml
	@py=$$(scripts/find-python310) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); $$py -m venv $(VENV) || exit 1; \
	fi
	@echo "installing CareNav and its dependencies into $(VENV) (about 2 minutes the first time)..."
	@$(PY) -m pip install -q --upgrade pip setuptools wheel
	@$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

store: install
	@$(CARENAV) db init
	@$(CARENAV) db seed --if-empty

model: install
	@$(CARENAV) train

# `make run` is the demo: its web page offers a sign-in for the seeded demo patients (CARENAV_DEMO=1,
# said in the banner). A clinic's server runs `carenav run` without it.
run: install store model
	@CARENAV_DEMO=$${CARENAV_DEMO:-1} $(CARENAV) run

pg-start:
	@scripts/pg-test-server start >/dev/null

pg-stop:
	@scripts/pg-test-server stop

browser:
	@scripts/ensure-chromium

test: install model browser
	@url=$$(scripts/pg-test-server start) || exit 1; \
	status=0; \
	CARENAV_TEST_PG_URL=$$url $(PY) -m pytest -q -p no:cacheprovider || status=$$?; \
	scripts/pg-test-server stop; exit $$status

# ruff (pyflakes, pycodestyle, import order) and mypy over the code; .ci/run runs it before the tests
lint: install
	@$(VENV)/bin/ruff check bot actions tests bench
	@$(VENV)/bin/mypy

test-stories: install model
	@PYTHONWARNINGS=ignore $(PY) -m bot.story_tests --stories tests/stories --out results

eval: install
	@$(PY) -m bot.evaluation

eval-safety: install model
	@PYTHONWARNINGS=ignore $(PY) -m bot.safety.evaluate $(if $(SETS),--sets $(SETS),)

clean:
	rm -rf models results var .pytest_cache
