# genre-lab: set up, build the book, run the tests.  `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: a bare `torch` on an empty venv pulls a multi-GB CUDA build.
# On a Linux laptop without a GPU add: TORCH_FLAGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
TORCH_FLAGS ?=

# Caches live inside the checkout, so `make clean` (or deleting .cache/) resets everything:
# genre_lab's own default is .cache/genre-lab here (GENRE_LAB_CACHE moves it), the same for
# make and a kernel started any other way.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
# librosa's example recordings, when a local copy sits beside the project (as in CI).
SHARED_DATA ?= $(abspath $(CURDIR)/../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/librosa),)
export LIBROSA_DATA_DIR ?= $(SHARED_DATA)/librosa
endif
# Real GTZAN clips for chapter 9's real-music comparison, when a sample sits beside the project.
ifneq ($(wildcard $(SHARED_DATA)/gtzan-sample/genres),)
export GENRE_LAB_REAL_SAMPLE ?= $(SHARED_DATA)/gtzan-sample
endif

BOOK_FLAGS := --config book/_config.yml --toc book/_toc.yml --path-output book
# The course's JupyterLab settings (a chapter opens as a notebook on double-click; no news
# pop-up), installed as defaults of this environment; a repo2docker postBuild copies the same
# file to $NB_PYTHON_PREFIX/share/jupyter/lab/settings/overrides.d/.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/genre-lab.json

.PHONY: help setup book lab test test-avx2 student clean
help:
	@echo "make book   set up .venv, execute every chapter and build the book (book/_build/html)"
	@echo "make test   run the unit tests and execute every notebook"
	@echo "make test-avx2  the same, computing as a CPU without AVX-512 (TESTS=... picks some)"
	@echo "make lab    open the chapters in JupyterLab"
	@echo "make student  write the exercise versions (no solutions) to student/"
	@echo "make clean  remove the book build and the caches"

setup: $(VENV)/.installed $(LAB_SETTINGS)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_FLAGS) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,book,scale]"
# pretrained weights (genre_lab.pretrained): the wheel pins numpy<1.17 and TensorFlow, which
# the course never imports, so without its dependencies
	$(BIN)/python -m pip install --quiet --no-deps "musicnn==0.1.0"
	touch $@

$(LAB_SETTINGS): lab/jupyterlab-settings.json $(VENV)/.installed
	mkdir -p $(@D)
	cp $< $@

# book/build.py runs jupyter-book and ends with the chapter and cell that failed, if any.
book: setup
	$(BIN)/python book/build.py . $(BOOK_FLAGS) --warningiserror --nitpick --keep-going
	@echo "The book: $(CURDIR)/book/_build/html/index.html"

# Two test workers, each running a notebook at a time with one torch thread (conftest.py).
# -rs: say why a test was skipped (the real-data tests need ../shared/data). PYTEST_ARGS adds
# options, e.g. PYTEST_ARGS="--durations=30" (the slowest tests and notebook cells).
PYTEST_ARGS ?=
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile -rs $(PYTEST_ARGS)

# The tests as an x86 CPU without AVX-512 computes (AVX2 and FMA, as an AMD EPYC):
# tools/avx2.py caps NumPy's SIMD loops, torch's kernels, oneDNN, MKL and OpenBLAS, whatever
# this CPU has, and tests/test_environment.py checks that the caps are in force. Every float
# comparison must hold on both paths. TESTS picks tests, e.g. TESTS="-m numerics tests".
TESTS ?=
test-avx2: setup
	$(BIN)/python tools/avx2.py $(BIN)/python -m pytest -n 2 --dist loadfile -rs $(TESTS)

# The chapters' kernels get one torch/BLAS thread per two cores, as in `make book` and
# `make test` (binder/start does the same on Binder; DEVELOPERS.md has the figures).
HALF_CORES := $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 1 ? n / 2 : 1 )))
lab: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(HALF_CORES)} MKL_NUM_THREADS=$${MKL_NUM_THREADS:-$(HALF_CORES)} \
	  $(BIN)/jupyter lab notebooks/

student: setup
	$(BIN)/python book/student_versions.py --out student

clean:
	rm -rf book/_build .cache
