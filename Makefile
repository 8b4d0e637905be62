# Hooklog: make run (the hub, data in ./data) · make test (every test) · make bench (benchmarks)
SWIFT ?= swift
VENV ?= .venv
DATA_DIR ?= ./data

.PHONY: all deps build release run test test-swift test-python bench format clean

all: build

deps:
	@Scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Build in release mode and run the hub with its data in ./data.
run: release
	mkdir -p $(DATA_DIR)
	.build/release/hooklog serve --data-dir $(DATA_DIR)

## Build and run every test: Swift (unit, crash and end-to-end) and Python (compatibility).
test: deps test-swift test-python

test-swift:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

test-python:
	Scripts/python-venv.sh $(VENV)
	HOOKLOG_BIN=$(CURDIR)/.build/debug/hooklog $(VENV)/bin/python -m pytest Tests/Compat -q

## Benchmarks (a separate package) and the machine's raw disk limits, measured in the same run.
bench:
	@Scripts/install-deps.sh --bench
	Benchmarks/run.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Benchmarks/Sources

clean:
	rm -rf .build Benchmarks/.build $(VENV)
