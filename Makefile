# The two quick-start commands (`make demo`, `make test`) each set up everything they need:
# a virtual environment in .venv, the package and its dependencies, and (on first use) the
# compiled mechanisms, which cellsweep builds itself into its cache.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export NEURON_INIT_MPI := 0

.PHONY: demo test lint clean venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[mpi,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cellsweep validate configs/example/example.yaml
	$(BIN)/cellsweep evaluate configs/example/example.yaml --plot results/example_traces.png
	$(BIN)/cellsweep run configs/example/example.yaml
	$(BIN)/cellsweep report results/example_sweep.h5

# import-linter reads packages from one folder tree: check a copy laid out as installed
lint: $(STAMP)
	rm -rf build/lint && mkdir -p build/lint/cellsweep
	cp cellsweep/*.py build/lint/cellsweep/
	for d in cells sweep optimise launch; do cp -r $$d build/lint/cellsweep/$$d; done
	cd build/lint && PYTHONPATH=. ../../$(BIN)/lint-imports ../../setup.cfg

# Chromium for the browser tests comes from the system packages (installed when run as root)
test: lint
	tests/install_chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) results build *.egg-info
