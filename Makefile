# gort — top-level Makefile.
#
#   make deps     install the tools the build and the tests need (Debian; as root)
#   make test     every test stage from fresh build dirs: release, ASan+UBSan,
#                 TSan, Valgrind, aarch64 under qemu (scripts/test-all.sh)
#   make build    normal build in build/release
#   make demo     build, then run the examples in DEMO_EXAMPLES
#   make bench    build, then run the benchmarks (bench/run.py)
#   make clean    remove build/
#
#   make test-release | test-asan | test-tsan | test-valgrind | test-aarch64
#                 one stage of `make test`
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
# Seconds each demo may run before it is stopped (and counted as a failure).
DEMO_TIMEOUT ?= 120

# Go lives in /usr/local/go on some machines without being on PATH.
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := $(PATH):/usr/local/go/bin
endif

STAGES := release asan tsan valgrind aarch64

.PHONY: all deps build test demo bench clean $(addprefix test-,$(STAGES))

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

demo: build
	$(foreach ex,$(DEMO_EXAMPLES),$(call run_demo,$(ex)))

bench: build
	$(PYTHON) bench/run.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

clean:
	rm -rf build
