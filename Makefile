# gort — top-level Makefile.
#
#   make deps     install the tools the build and the tests need (Debian; as root)
#   make test     every test stage from fresh build dirs: release, ASan+UBSan,
#                 TSan, Valgrind, aarch64 under qemu, Python binding (scripts/test-all.sh)
#   make build    normal build in build/release
#   make demo     build, then run the examples in DEMO_EXAMPLES, then the Python
#                 ones in DEMO_PY_EXAMPLES (newest venv of scripts/python-env.sh)
#   make bench    build, then run the benchmarks (bench/run.py)
#   make dist     release artifacts into dist/ (C tarball, .deb, Python sdist +
#                 wheels, npm tarball, Lua rock), each proven (scripts/dist.sh)
#   make clean    remove build/
#
#   make test-release | test-asan | test-tsan | test-valgrind | test-aarch64 | test-python
#                 one stage of `make test`
#   make python-env   venvs with the Python binding installed (build/python/venv-X.Y)
#   make fuzz     the differential channel fuzzer, open-ended (scripts/fuzz.sh)
SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR ?= build/release
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CMAKE ?= cmake
PYTHON ?= python3
CMAKE_ARGS ?=
# Extra arguments for bench/run.py, e.g. BENCH_ARGS="--runs 3 --filter chan"
BENCH_ARGS ?=
# Examples run by `make demo`, in order; ones not written yet are skipped.
DEMO_EXAMPLES ?= worker_pool prime_sieve select_timeout echo_server http_hello promise_all async_await
# Arguments per example (servers run a self-test client against themselves).
DEMO_ARGS_echo_server ?= --self-test
DEMO_ARGS_http_hello ?= --self-test
# Python examples (examples/NAME.py) run after the C ones by `make demo`, with
# the newest CPython's venv (GORT_PYTHONS=X.Y picks another); arguments per
# example in DEMO_PY_ARGS_NAME.
DEMO_PY_EXAMPLES ?= worker_pool promise_all asyncio_bridge native_pool
# Lua examples (examples/NAME.lua) run last by `make demo`, with the module
# the build put in $(BUILD_DIR)/lua; arguments per example in DEMO_LUA_ARGS_NAME.
DEMO_LUA_EXAMPLES ?= seed_worker_pool seed_promise_all parallel_states
# JavaScript examples (examples/NAME.js) run last by `make demo`, with the
# Node addon installed by npm into build/node-demo (require('gort')).
DEMO_JS_EXAMPLES ?= seed_promise_all seed_worker_pool native_pool
# Seconds each demo may run before it is stopped (and counted as a failure).
DEMO_TIMEOUT ?= 120

# Go lives in /usr/local/go on some machines without being on PATH.
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := $(PATH):/usr/local/go/bin
endif

STAGES := release asan tsan valgrind aarch64 python lua node fault fuzz dist

.PHONY: all deps build test demo bench clean python-env fuzz dist $(addprefix test-,$(STAGES))

all: build

deps:
	@bash scripts/deps.sh

build:
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

test: deps
	@JOBS=$(JOBS) bash scripts/test-all.sh

$(addprefix test-,$(STAGES)): test-%:
	@JOBS=$(JOBS) bash scripts/test-all.sh $*

# One recipe line per example: $(1) = example name.
define run_demo
	@bin=$(BUILD_DIR)/examples/$(1); \
	if [ -x "$$bin" ]; then \
	    echo "== demo: $(1) $(DEMO_ARGS_$(1))"; \
	    timeout --kill-after=5 $(DEMO_TIMEOUT) "$$bin" $(DEMO_ARGS_$(1)) \
	        || { rc=$$?; echo "== demo: $(1) failed (exit $$rc)"; exit $$rc; }; \
	else \
	    echo "== demo: $(1) (not built yet: no examples/$(1).c), skipped"; \
	fi

endef

# One recipe line per Python example: $(1) = example name. The venv list
# (build/python/venvs.txt) is written by the python-env.sh run just before.
define run_py_demo
	@src=examples/$(1).py; \
	if [ -f "$$src" ]; then \
	    py=$$(tail -n1 build/python/venvs.txt | cut -f2)/bin/python; \
	    echo "== demo: $(1).py $(DEMO_PY_ARGS_$(1)) ($$($$py -V))"; \
	    timeout --kill-after=5 $(DEMO_TIMEOUT) "$$py" "$$src" $(DEMO_PY_ARGS_$(1)) \
	        || { rc=$$?; echo "== demo: $(1).py failed (exit $$rc)"; exit $$rc; }; \
	else \
	    echo "== demo: $(1).py (not written yet: no examples/$(1).py), skipped"; \
	fi

endef

# One recipe line per Lua example: $(1) = example name.
define run_lua_demo
	@src=examples/$(1).lua; \
	if [ -f "$$src" ] && [ -f $(BUILD_DIR)/lua/gort.lua ]; then \
	    echo "== demo: $(1).lua $(DEMO_LUA_ARGS_$(1))"; \
	    LUA_PATH="$(BUILD_DIR)/lua/?.lua;;" LUA_CPATH="$(BUILD_DIR)/lua/?.so;;" \
	    timeout --kill-after=5 $(DEMO_TIMEOUT) lua5.4 "$$src" $(DEMO_LUA_ARGS_$(1)) \
	        || { rc=$$?; echo "== demo: $(1).lua failed (exit $$rc)"; exit $$rc; }; \
	else \
	    echo "== demo: $(1).lua (no examples/$(1).lua or Lua binding not built), skipped"; \
	fi

endef

# One recipe line per JavaScript example: $(1) = example name.
define run_js_demo
	@if [ -f examples/$(1).js ]; then \
	    echo "== demo: $(1).js ($$(node --version))"; \
	    NODE_PATH=build/node-demo/node_modules timeout $(DEMO_TIMEOUT) node examples/$(1).js \
	        || { rc=$$?; echo "== demo: $(1).js failed (exit $$rc)"; exit $$rc; }; \
	else \
	    echo "== demo: $(1).js (not written yet: no examples/$(1).js), skipped"; \
	fi

endef

DEMO_PY_FOUND := $(wildcard $(DEMO_PY_EXAMPLES:%=examples/%.py))

demo: build
	$(foreach ex,$(DEMO_EXAMPLES),$(call run_demo,$(ex)))
ifneq ($(DEMO_PY_FOUND),)
	@GORT_PYTHONS=$${GORT_PYTHONS:-newest} GORT_PY_ROOT=build/python bash scripts/python-env.sh
endif
	$(foreach ex,$(DEMO_PY_EXAMPLES),$(call run_py_demo,$(ex)))
	$(foreach ex,$(DEMO_LUA_EXAMPLES),$(call run_lua_demo,$(ex)))
ifneq ($(wildcard $(DEMO_JS_EXAMPLES:%=examples/%.js)),)
	@mkdir -p build/node-demo && cd build/node-demo && npm install --no-audit --no-fund --no-save --silent ../../bindings/node
endif
	$(foreach ex,$(DEMO_JS_EXAMPLES),$(call run_js_demo,$(ex)))

python-env:
	@bash scripts/python-env.sh

# The channel fuzzer, open-ended (Ctrl-C stops it; new inputs go to
# build/fuzz/corpus, crashes to build/fuzz/crash-*). FUZZ_ARGS: more
# libFuzzer options, e.g. FUZZ_ARGS="-max_total_time=600 -jobs=2".
FUZZ_ARGS ?=
fuzz:
	@bash scripts/fuzz.sh $(FUZZ_ARGS)

dist:
	@JOBS=$(JOBS) bash scripts/dist.sh

bench: build
	$(PYTHON) bench/run.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)
	@if [ -f $(BUILD_DIR)/lua/gort.lua ]; then echo "== Lua binding benchmarks"; \
	    LUA_PATH="$(BUILD_DIR)/lua/?.lua;;" LUA_CPATH="$(BUILD_DIR)/lua/?.so;;" lua5.4 bench/lua/bench.lua; fi
	@mkdir -p build/node-demo && cd build/node-demo && npm install --no-audit --no-fund --no-save --silent ../../bindings/node piscina@4
	NODE_PATH=build/node-demo/node_modules node --expose-gc bench/node/binding.js

clean:
	rm -rf build
