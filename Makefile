# Two commands on a fresh machine:  `make run`  and  `make test`.
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; on a GPU host use e.g. TORCH_SPEC="torch>=2.3" with a CUDA index.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fsrl-installed

.PHONY: run test lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,atari]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m learner.main $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy agents actors learner replay envs robot_edge conf telemetry

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"

clean-venv:
	rm -rf $(VENV)

# Containers (docs/deploy.md): images built on this machine, then a multi-host run on
# Docker networks with faults injected. Both fail loudly where Docker cannot run.
.PHONY: images e2e
images: $(STAMP)
	PIP="$(abspath $(PY)) -m pip" FSRL_PYTHON="$(abspath $(PY))" docker/build_images.sh

E2E_ARGS ?= -q -s -p no:cacheprovider
e2e: $(STAMP)
	FSRL_E2E=1 FSRL_PYTHON="$(abspath $(PY))" $(PY) -m pytest tests/e2e $(E2E_ARGS)
