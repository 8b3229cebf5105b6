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
DEMO_PY_EXAMPLES ?= worker_pool asyncio_bridge native_pool
# Seconds each demo may run before it is stopped (and counted as a failure).
DEMO_TIMEOUT ?= 120

# Go lives in /usr/local/go on some machines without being on PATH.
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := $(PATH):/usr/local/go/bin
endif

STAGES := release asan tsan valgrind aarch64 python dist

.PHONY: all deps build test demo bench clean python-env dist $(addprefix test-,$(STAGES))

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

DEMO_PY_FOUND := $(wildcard $(DEMO_PY_EXAMPLES:%=examples/%.py))

demo: build
	$(foreach ex,$(DEMO_EXAMPLES),$(call run_demo,$(ex)))
ifneq ($(DEMO_PY_FOUND),)
	@GORT_PYTHONS=$${GORT_PYTHONS:-newest} GORT_PY_ROOT=build/python bash scripts/python-env.sh
endif
	$(foreach ex,$(DEMO_PY_EXAMPLES),$(call run_py_demo,$(ex)))

python-env:
	@bash scripts/python-env.sh

dist:
	@JOBS=$(JOBS) bash scripts/dist.sh

bench: build
	$(PYTHON) bench/run.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

clean:
	rm -rf build
