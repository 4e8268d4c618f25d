# opsgate.release: every target installs what it needs with the project's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
# The newest supported Python on this machine: 3.13, 3.12, then 3.11 (pyenv included).
PYTHON ?= $(shell for v in 3.13 3.12 3.11; do \
	for p in $$(command -v python$$v 2>/dev/null) $$(ls -d $${PYENV_ROOT:-/root/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null | sort -rV); do \
	  "$$p" -c 'import sys' >/dev/null 2>&1 && { echo "$$p"; exit 0; }; done; done)
SCENARIO ?=
# Podman reads the project's settings (runc, cgroupfs, ulimits) instead of /etc.
export CONTAINERS_CONF := $(ROOT)/tests/env/containers.conf
# Molecule and ansible write to $HOME; keep that inside the project.
TEST_HOME := $(ROOT)/.home
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg

.PHONY: help venv test-env lint unit molecule sanity collection-build test demo clean

help:
	@echo "make demo      run the main job on inventories/local (this machine only)"
	@echo "make test      install everything, then lint, unit, collection build, sanity, molecule"
	@echo "make venv | test-env | lint | unit | sanity | collection-build | molecule [SCENARIO=name]"

$(BIN)/ansible-playbook: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "no Python 3.13, 3.12 or 3.11 found: apt-get install python3 python3-venv" >&2; exit 1; }
	@echo "creating .venv with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

# The collections path in ansible.cfg points at .collections, where
# ansible_collections/opsgate/release links back to this checkout.
.collections/ansible_collections/opsgate/release:
	mkdir -p .collections/ansible_collections/opsgate
	ln -sfn ../../.. $@

venv: $(BIN)/ansible-playbook .collections/ansible_collections/opsgate/release
	@bash tests/env/install-awx-collection.sh

test-env: venv
	bash tests/env/setup-host.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/yamllint -s .
	cd $(ROOT) && HOME=$(TEST_HOME) $(BIN)/ansible-lint --profile production

unit: venv
	HOME=$(TEST_HOME) $(BIN)/pytest tests/unit

collection-build: venv
	HOME=$(TEST_HOME) bash tests/collection/build-and-install.sh

sanity: venv
	HOME=$(TEST_HOME) bash tests/sanity/run.sh

molecule: test-env
	HOME=$(TEST_HOME) bash tests/env/run-molecule.sh $(SCENARIO)

test: test-env lint unit collection-build sanity molecule

demo: venv
	bash demo/run.sh

clean:
	rm -rf build out .home .cache
