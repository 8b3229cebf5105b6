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
# Examples run by `make demo`, in order; ones not written yet are skipped.
DEMO_EXAMPLES ?= worker_pool prime_sieve select_timeout echo_server http_hello
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

demo: build
	@for ex in $(DEMO_EXAMPLES); do \
	    bin=$(BUILD_DIR)/examples/$$ex; \
	    if [ -x "$$bin" ]; then \
	        echo "== demo: $$ex"; \
	        timeout --kill-after=5 $(DEMO_TIMEOUT) "$$bin" || { rc=$$?; echo "== demo: $$ex failed (exit $$rc)"; exit $$rc; }; \
	    else \
	        echo "== demo: $$ex (not built yet: no examples/$$ex.c), skipped"; \
	    fi; \
	done

bench: build
	$(PYTHON) bench/run.py --build-dir $(BUILD_DIR)

clean:
	rm -rf build
