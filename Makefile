# Containers vs. Virtual Machines — the two commands:
#   make lab    set up what is missing, then open JupyterLab (127.0.0.1, with a token)
#   make test   set up what is missing, then run every test this machine can run
# Both are idempotent; a second run takes seconds.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.virtlab-setup
LAB_PORT ?= 8888
LAB_TOKEN ?=
APP_PORT ?= 8866

.PHONY: lab test setup provision notebooks labs release lint doctor cleanup bench clean help readme site app

help:
	@sed -n '2,4p' Makefile

$(STAMP): pyproject.toml tools/setup.sh tools/slim_env.sh
	@bash tools/setup.sh "$(VENV)"

setup: $(STAMP)

# the token travels in the environment, never on a command line (ps shows those to everyone);
# VIRTLAB_LAB_TOKEN=... make lab keeps it off make's own command line too
ifneq ($(LAB_TOKEN),)
lab: export VIRTLAB_LAB_TOKEN := $(LAB_TOKEN)
endif
lab: setup
	@$(PY) -m virtlab.labserver --port "$(LAB_PORT)"

test: setup
	@bash tools/test.sh "$(VENV)"

# Lab services (LXD, libvirt) on a lab VM or CI; needs root. --offline keeps LXD off the network.
provision:
	@bash labs/lab-vm/provision.sh $(PROVISION_ARGS)

notebooks: setup
	@$(PY) tools/build_notebooks.py

# Graded labs: build labs/*.ipynb (instructors' versions) from labs/src/*.md; `make release`
# writes the learners' versions without solutions or hidden tests to release/ (EPISODES=1: the
# episodes too, without their solution blocks).
labs: setup
	@$(PY) tools/build_labs.py

release: setup
	@$(PY) tools/release.py $(if $(EPISODES),--episodes)

lint: setup
	@$(VENV)/bin/ruff check src tests tools

doctor: setup
	@$(VENV)/bin/virtlab doctor

cleanup: setup
	@$(VENV)/bin/virtlab cleanup

bench: setup
	@$(VENV)/bin/virtlab bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

readme: setup
	@$(PY) tools/update_readme.py

# The course as a static website (Jupyter Book 1, offline, committed outputs, nothing executed):
# _build/site/_build/html/index.html
site: setup
	@$(PY) tools/build_site.py --out _build

# The decision aid + density calculator as a Voilà app for workshops (127.0.0.1, a token taken
# from $$VIRTLAB_APP_TOKEN or generated; it is passed in the environment, never on a command line)
app: setup
	@$(PY) -m virtlab.appserver --port "$(APP_PORT)"
