# Two commands for a fresh machine with Python 3.11+:
#   make demo   - a simulated beamtime written to ./demo/demo.db + ./demo/demo.zarr/
#                 (installs the package alone, `pip install -e .`: no test tools)
#   make serve-demo - a local nats-server (JetStream) on 127.0.0.1:4222 and `serve` into
#                 ./serve-demo/beamtime.db, until Ctrl-C
#   make lint   - ruff, the import-linter contracts (lint-imports) and mypy
#   make docs   - the documentation site, docs/ -> docs/_build/html/ (warnings are errors)
#   make test   - make lint, make docs, then the whole test suite
#   make conformance - bluesky-tiled-plugins' and databroker's own tests, against TiledWriter
#                 and against us (their sdists downloaded once into .conformance/; slow, not
#                 part of make test); writes docs/conformance.md and docs/conformance.json,
#                 then read() of upstream's example documents both ways:
#                 docs/conformance-examples.md
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo serve-demo test bench lint docs clean conformance

# Two stamps: the demo needs the package alone (its dependencies: bluesky, ophyd,
# zarr, pandas, ...); test, lint, docs and the rest need every tool ('.[test]'), which
# covers the demo too. Python 3.11's own pip installs an editable package (PEP 660),
# so the demo skips upgrading pip.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e .
	touch $@

$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(BIN)/.demo-installed

demo: $(BIN)/.demo-installed
	$(BIN)/resonance-callback demo demo

serve-demo: $(BIN)/.installed
	$(BIN)/python examples/serve_local.py serve-demo --forever

# Every linter runs and reports; lint fails if any of them found something.
lint: $(BIN)/.installed
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "$(BIN)/lint-imports"; $(BIN)/lint-imports || status=1; \
	echo "$(BIN)/mypy"; $(BIN)/mypy || status=1; \
	exit $$status

docs: $(BIN)/.installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

test: lint docs
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e ".[bench]" || echo "TiledWriter extras did not install: that case is reported as skipped"
	$(BIN)/python -m benchmarks --out benchmarks/results/results.json

conformance: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e ".[conformance]"
	$(BIN)/python -m tools.conformance
	$(BIN)/python -m tools.conformance.examples

clean:
	rm -rf $(VENV) demo serve-demo docs/_build .conformance .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
