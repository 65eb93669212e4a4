# harden-tcp: one entry point for users and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Everything below runs with the project's own toolchain first on PATH.
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Molecule and ansible-lint keep their caches inside the checkout, not in $HOME.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export MOLECULE_GLOB := molecule/*/molecule.yml

# CI logs are files, not terminals: no colour codes in them.
ifdef CI
export NO_COLOR := 1
export PY_COLORS := 0
export ANSIBLE_NOCOLOR := 1
endif

INVENTORY ?= inventories/local
ANSIBLE_ARGS ?=

.PHONY: help harden audit test lint sanity unit browser screenshot monitoring differential molecule images docker venv docs collection clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# requirements-dev.txt pulls in requirements.txt (runtime) with `-r`.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned runtime and development requirements

harden: venv ## Audit and harden the hosts of INVENTORY (default: this machine)
	ansible-playbook -i $(INVENTORY) harden-tcp.yml $(ANSIBLE_ARGS)

audit: venv ## Read-only audit of INVENTORY, one report for the whole fleet
	ansible-playbook -i $(INVENTORY) playbooks/audit-tcp.yml $(ANSIBLE_ARGS)

docker: ## Make a Docker engine answer (installs docker.io, starts dockerd)
	scripts/ensure-docker.sh

images: docker ## Build the Debian 11/12/13 base images (skipped when current)
	$(PYTHON) scripts/build_images.py

lint: venv ## yamllint, ansible-lint (production profile) and ansible-test sanity
	yamllint --strict .
	ansible-lint --profile production --strict
	$(MAKE) --no-print-directory sanity

sanity: venv ## ansible-test sanity on the collection, every target Python found
	scripts/ensure-packages.sh shellcheck:shellcheck
	scripts/sanity.sh

unit: venv ## pytest: unit and namespace integration tests
	python -m pytest --ignore=tests/browser --ignore=tests/monitoring

browser: venv ## The HTML report in headless Chromium (selenium): sort, filter, expand, hostile values inert
	scripts/ensure-packages.sh chromium:chromium chromedriver:chromium-driver
	python -m pytest tests/browser

screenshot: browser ## Refresh docs/images/report.png, the README's picture of the report page
	cp build/report.png docs/images/report.png

monitoring: venv ## promtool check and unit-test the alert rules; dashboard and rules name real metrics
	scripts/ensure-packages.sh promtool:prometheus
	promtool check rules monitoring/prometheus/harden_tcp.rules.yml
	promtool test rules monitoring/prometheus/harden_tcp.rules.test.yml
	python -m pytest tests/monitoring

# The sysctl model against the real systemd-sysctl and sysctl --system, one container per
# release; SEED=n replays a run, TREES=n sets the random trees per release.
differential: venv images ## sysctl boot/system predictions vs the real tools on random trees (Debian 11/12/13)
	python tests/differential/sysctl_differential.py $(if $(SEED),--seed $(SEED)) --trees $(or $(TREES),150)

molecule: venv images ## Every Molecule scenario (or only SCENARIO=name): converge, idempotence, verify
	molecule test $(if $(SCENARIO),--scenario-name $(SCENARIO),--all)

test: venv images lint unit browser monitoring differential molecule ## Everything CI runs, in order, stopping at the first failure

docs: venv ## Regenerate the README's finding catalogue table from the catalogue
	python scripts/catalogue_table.py --write

collection: venv ## Build the collection artifact into build/
	ansible-galaxy collection build --force --output-path build

clean: ## Remove the venv, caches, reports and built artifacts
	rm -rf $(VENV) .cache reports .pytest_cache build
