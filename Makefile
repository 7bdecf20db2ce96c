# fastio's single interface. Every target works from a clean clone: it makes
# the virtualenv it needs and installs into it from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
export PYO3_PYTHON := $(abspath $(PY))

.PHONY: demo test test-python test-rust lint format bench soak loom clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

## demo: build fastio, install it, and run the demo
demo: $(PY)
	$(PIP) install .
	$(PY) -m fastio demo

## test: install fastio with its test extras, then run every Rust test (the
## loom models of the completion inbox too) and every Python test
test: $(PY)
	$(PIP) install -e '.[test,dask]'
	cargo test --quiet
	$(MAKE) loom
	$(PY) -m pytest

## lint: rustfmt, clippy, ruff, mypy --strict and stubtest
lint: $(PY)
	$(PIP) install -e '.[lint,dask]'
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict python/fastio
	$(PY) -m mypy.stubtest fastio --mypy-config-file pyproject.toml

format: $(PY)
	cargo fmt
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## bench: build with the dist profile (fat LTO) plus the naive baseline, then
## run the benchmarks (primitives, then HTTP against nginx and the peers);
## the tables are printed and written to bench/results.md and bench/http-results.md
bench: $(PY)
	MATURIN_PEP517_ARGS="--profile dist --features bench-baseline" $(PIP) install '.[bench,dask]'
	$(PY) bench/primitives.py --markdown bench/results.md
	$(PY) bench/http.py --markdown bench/http-results.md
	$(PY) bench/soak.py --markdown bench/soak-results.md
	$(PY) bench/dask_bench.py --markdown bench/dask-results.md

## soak: only the soak (1,000,000 requests, 100,000 cancelled), into bench/soak-results.md
soak: $(PY)
	$(PIP) install .
	$(PY) bench/soak.py --markdown bench/soak-results.md

## loom: the completion inbox's wake-up protocol under the loom model checker
loom:
	RUSTFLAGS="--cfg fastio_loom" cargo test --release --lib --target-dir target/loom loom_tests

clean:
	rm -rf $(VENV) target bench/pingpong python/fastio/*.so
