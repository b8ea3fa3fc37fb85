# Two set-up commands on a fresh machine: `make demo` and `make test`.
#
# `make test` builds and tests two environments, because users get two kinds of install:
#   .venv        every extra (`pip install -e ".[all]"`); the bench extra's matminer pins pandas<3, so
#                this one resolves pandas 2.
#   .venv-plain  what `pip install matloop` resolves: the newest pandas, NumPy and scikit-learn (pandas 3),
#                with the molecule, structure and serve extras (they do not hold pandas back), so that every CLI
#                command, SMILES and structure files and the campaign server included, runs on real tables
#                under pandas 3. Only the test runners are added (pytest, hypothesis, Playwright for the
#                browser tests against Debian's chromium, the OPTIMADE reference server); tests that need
#                another extra (torch, CHGNet, Dask, PostgreSQL) skip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --constraint constraints.txt
PLAIN := .venv-plain
PLAIN_BIN := $(PLAIN)/bin
PLAIN_EXTRAS := molecule,structure,serve
VERSIONS := import sys, numpy, pandas, sklearn; print(sys.prefix, "python", sys.version.split()[0], "pandas", pandas.__version__, "numpy", numpy.__version__, "scikit-learn", sklearn.__version__)

.PHONY: demo test test-all test-plain lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) --quiet -e .
	touch $@

$(VENV)/.all: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) --quiet "torch==2.13.0"
	$(PIP) --quiet -e ".[all]"
	touch $@ $(VENV)/.core

$(PLAIN_BIN)/python:
	$(PYTHON) -m venv $(PLAIN)
	$(PLAIN_BIN)/pip install --quiet --upgrade pip setuptools wheel

# --upgrade-strategy eager: resolve the newest release of every dependency, as a fresh `pip install` does.
$(PLAIN)/.plain: $(PLAIN_BIN)/python pyproject.toml constraints.txt
	$(PLAIN_BIN)/pip install --constraint constraints.txt --quiet --upgrade --upgrade-strategy eager \
		-e ".[$(PLAIN_EXTRAS)]" "pytest>=8" "hypothesis>=6.90" "playwright>=1.40" "optimade[server]>=1.0"
	touch $@

demo: $(VENV)/.core
	$(BIN)/matloop demo

# The report tests open pages in a real headless Chromium (Debian's package); installed when we can.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"; }

# ruff once; the suite in both environments (each prints its pandas/NumPy/scikit-learn versions first).
# The two suites run at the same time, one per core (most tests use one core; run one after the other they took
# 38-40 min of CI's 40): the plain one's output goes to a file, printed after the other's, and either failing
# fails the target.
test: $(VENV)/.all $(PLAIN)/.plain chromium
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -c '$(VERSIONS)'
	$(PLAIN_BIN)/python -c '$(VERSIONS)'
	@status=0; log=$$(mktemp); \
	$(PLAIN_BIN)/python -m pytest -q -p no:cacheprovider >$$log 2>&1 & plain=$$!; \
	echo "== pytest in $(VENV) (the $(PLAIN) suite runs beside it; its output follows)"; \
	$(BIN)/python -m pytest -q || status=1; \
	wait $$plain || status=1; \
	echo "== pytest in $(PLAIN)"; cat $$log; rm -f $$log; \
	exit $$status

test-all: $(VENV)/.all chromium
	$(BIN)/python -c '$(VERSIONS)'
	$(BIN)/python -m pytest -q

test-plain: $(PLAIN)/.plain chromium
	$(PLAIN_BIN)/python -c '$(VERSIONS)'
	$(PLAIN_BIN)/python -m pytest -q

lint: $(VENV)/.all
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) $(PLAIN) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
