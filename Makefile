# fastio's single interface. Every target works from a clean clone: it makes
# the virtualenv it needs and installs into it from pyproject.toml.

PYTHON ?= python3
# One virtualenv per interpreter: `make test PYTHON=python3.13` keeps its own.
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
# Every supported CPython found here (PATH, then pyenv), oldest first.
PYTHONS := $(shell .ci/pythons)
NEWEST_PYTHON := $(lastword $(PYTHONS))
# The newest CPython with fastio, for asyncio.eager_task_factory (3.12+) in bench/floor.py.
EAGER_VENV := build/bench-eager
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Two pytest workers per CPU: most tests wait on sockets and timers.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
export PYO3_PYTHON := $(abspath $(PY))

.PHONY: demo test test-python test-rust ci test-others httpx-suite wheels wheel-check lint docs format bench soak loom clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

## demo: build fastio, install it, and run the demo
demo: $(PY)
	$(PIP) install .
	$(PY) -m fastio demo

## test: the quick check: build fastio, run the Rust tests and the Python
## suite on PYTHON
test: test-rust test-python

# --release: the dependencies are then built once, for these tests and for
# the module test-python installs.
test-rust: $(PY)
	cargo test --release --quiet

## test-python: install fastio with its test extras into PYTHON's venv, run pytest
test-python: $(PY)
	$(PIP) install -e '.[test,dask]'
	$(PY) -m pytest -n $(PYTEST_WORKERS)

## ci: what `make test` leaves to CI (.ci/run runs it next): the loom models
## of the completion inbox, the suite on every other supported CPython here,
## httpx's own suite over fastio's transport, and the wheel check
ci: loom test-others httpx-suite wheel-check

## httpx-suite: httpx's own tests, with its transport and with fastio's
## (fastio.httpx) in every AsyncClient they build without one; loopback only
httpx-suite: $(PY)
	$(PIP) install -e '.[test]' -r tests/httpx_suite/requirements.txt
	$(PY) tests/httpx_suite/run.py

test-others: $(PY)
	@mine=$$($(PY) -c 'import sys; print(sys.version_info[:2])'); \
	for python in $(PYTHONS); do \
		if [ "$$($$python -c 'import sys; print(sys.version_info[:2])')" = "$$mine" ]; then continue; fi; \
		$(MAKE) test-python PYTHON=$$python || exit 1; \
	done

## wheels: one manylinux wheel per supported CPython found here, and the
## sdist, into dist/ (fat LTO); auditwheel checks each wheel's tag
wheels: $(PY)
	$(PIP) install 'maturin>=1.9,<2' 'auditwheel>=6'
	rm -rf dist
	$(VENV)/bin/maturin build --profile dist --out dist $(addprefix -i ,$(PYTHONS))
	$(VENV)/bin/maturin sdist --out dist
	for wheel in dist/*.whl; do $(VENV)/bin/auditwheel show "$$wheel" | grep manylinux >/dev/null || exit 1; done

## wheel-check: installs each wheel in a fresh venv with no cargo or rustc on
## PATH and runs tests/wheel_smoke.py (sleep, gather, fetch_all, the demo);
## then builds a wheel from the sdist
wheel-check: wheels
	for python in $(PYTHONS); do \
		tag=$$($$python -c 'import sys; print("cp%d%d" % sys.version_info[:2])'); \
		rm -rf build/wheel-check && $$python -m venv build/wheel-check && \
		build/wheel-check/bin/python -m pip --disable-pip-version-check -q install dist/*-$$tag-*.whl && \
		env PATH="$(CURDIR)/build/wheel-check/bin:/usr/bin:/bin" build/wheel-check/bin/python tests/wheel_smoke.py \
		|| exit 1; \
	done
	rm -rf build/sdist-check
	$(PIP) wheel --no-deps --no-build-isolation -w build/sdist-check dist/fastio-*.tar.gz

## lint: rustfmt, clippy, the layout of src/ (no import cycle, no pyo3 in
## the HTTP engine, arrows downward), ruff, mypy --strict, stubtest, docs
lint: $(PY)
	$(PIP) install -e '.[lint,dask,docs]'
	$(PY) .ci/check-layout
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict python/fastio tests/typing_check.py
	$(PY) -m mypy.stubtest fastio --mypy-config-file pyproject.toml
	$(MAKE) docs

## docs: the docs site (MkDocs, Material theme, API reference from the
## stubs) into site/; strict: any warning fails
docs: $(PY)
	$(PIP) install -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --quiet

format: $(PY)
	cargo fmt
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## bench: build with the dist profile (fat LTO) plus the naive baseline, then
## run the benchmarks (primitives, the per-request floor with eager tasks on
## the newest CPython here, instructions per request under callgrind, then
## HTTP and TLS against nginx and the
## peers, the soak, Dask); the tables are printed and written to bench/*.md
bench: $(PY)
	MATURIN_PEP517_ARGS="--profile dist --features bench-baseline" $(PIP) install '.[bench,dask]'
	$(PY) bench/primitives.py --markdown bench/results.md
	$(NEWEST_PYTHON) -m venv $(EAGER_VENV)
	MATURIN_PEP517_ARGS="--profile dist" $(EAGER_VENV)/bin/python -m pip --disable-pip-version-check -q install .
	$(PY) bench/floor.py --eager-python $(EAGER_VENV)/bin/python --markdown bench/floor-results.md
	$(PY) bench/instructions.py --markdown bench/instructions-results.md
	$(PY) bench/http.py --markdown bench/http-results.md
	$(PY) bench/httpx_transport.py --markdown bench/httpx-transport-results.md
	$(PY) bench/tls.py --markdown bench/tls-results.md
	$(PY) bench/dns.py --markdown bench/dns-results.md
	$(PY) bench/adaptive.py --markdown bench/adaptive-results.md
	$(PY) bench/task_share.py --markdown bench/task-share-results.md
	$(PY) bench/soak.py --markdown bench/soak-results.md
	$(PY) bench/dask_bench.py --markdown bench/dask-results.md
	$(PY) bench/import_time.py --markdown bench/import-results.md

## soak: only the soak (1,000,000 requests, 100,000 cancelled), into bench/soak-results.md
soak: $(PY)
	$(PIP) install .
	$(PY) bench/soak.py --markdown bench/soak-results.md

## loom: the completion inbox's wake-up protocol under the loom model checker
loom:
	RUSTFLAGS="--cfg fastio_loom --cfg tokio_unstable" cargo test --release --lib --target-dir target/loom loom_tests

clean:
	rm -rf $(VENV) target site bench/pingpong python/fastio/*.so
