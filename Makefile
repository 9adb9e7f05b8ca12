# Set-up and test on a fresh machine: `make run`, `make test`. Every target creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNELS := $(VENV)/.kernels
PORT ?= 8501

.PHONY: install run test lint bench chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The numba kernels, compiled into their disk cache once per change of their source, so that no
# first database waits ~15 s for the compiler.
$(KERNELS): plurel_core/samplers.py plurel_core/scm/kernels.py plurel_core/scm/activations.py plurel_core/stats.py $(STAMP)
	$(BIN)/python -c "from plurel_core import samplers, stats; from plurel_core.scm import kernels; samplers.warm_up(); kernels.warm_up(); stats.warm_up()"
	touch $(KERNELS)

install: $(STAMP) $(KERNELS)

run: install
	$(BIN)/streamlit run app.py --server.headless true --server.port $(PORT) --server.address 0.0.0.0

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it downloads no browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check .

test: install chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
