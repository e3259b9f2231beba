# mmlt: the two set-up commands of the README are `make demo` and `make test`.
# Both create the virtual environment from the CI lock if it is missing and
# install Debian's Fashion-MNIST package if it is absent.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST := /usr/share/datasets/fashion-mnist

# `make gpu-wheels [GPU_PYTHON=3.12]`: requirements/gpu-wheels.txt as wheels
# for the GPU machine's Python into .whl/ (docs/gpu_and_clusters.md).
GPU_WHEELS_DIR ?= .whl
GPU_PYTHON ?= 3.12

.PHONY: setup data demo test gpu-wheels

$(VENV)/.installed: requirements/ci-lock.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements/ci-lock.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed

data:
	@[ -d $(FASHION_MNIST) ] || { $(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; }

demo: setup data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) demo/run_demo.py

# `make test` runs the files on TEST_WORKERS processes (pytest-xdist, one
# file to a worker at a time so module and session fixtures are built once
# per worker), each torch on one thread; TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= 2

test: setup data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q \
		-n $(TEST_WORKERS) --dist loadfile tests

gpu-wheels: setup
	$(PY) -m pip download -q --no-deps --only-binary=:all: \
		--implementation py --abi none --platform any \
		--python-version $(GPU_PYTHON) -d $(GPU_WHEELS_DIR) \
		-r requirements/gpu-wheels.txt
