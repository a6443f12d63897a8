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

.PHONY: lab test setup provision notebooks labs release lint doctor cleanup bench clean help readme

help:
	@sed -n '2,4p' Makefile

$(STAMP): pyproject.toml tools/setup.sh
	@bash tools/setup.sh "$(VENV)"

setup: $(STAMP)

lab: setup
	@$(PY) -m virtlab.labserver --port "$(LAB_PORT)" $(if $(LAB_TOKEN),--token "$(LAB_TOKEN)")

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
