# The two commands a newcomer needs (README):
#   make run    install what is missing, build, and run dtq
#   make test   install what is missing, build, and run every test
# Beside them: make build, make bench, make format, make tidy, make clean.

PRESET   ?= default
BUILD    := build/$(PRESET)
DTQ      := $(BUILD)/bin/dtq
JOBS     ?= $(shell nproc)

.PHONY: run test build bench deps test-deps configure format tidy clean demo

deps:
	@scripts/check-space.sh build $(BUILD)
	@scripts/install-deps.sh build

test-deps:
	@scripts/check-space.sh test $(BUILD)
	@scripts/install-deps.sh test

configure:
	@cmake --preset $(PRESET) >/dev/null

build: deps configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	@scripts/run-demo.sh $(BUILD)

test: test-deps configure
	@cmake --build --preset $(PRESET) -j $(JOBS)
	@ctest --preset $(PRESET)

# distributed_bench starts Redis, RabbitMQ, Kafka and FerretDB, which the test
# profile installs.
bench: test-deps build
	@scripts/run-bench.sh $(BUILD)

format:
	@git ls-files '*.c' '*.h' '*.cpp' '*.hpp' | xargs clang-format -i

tidy: configure
	@git ls-files 'core/*.cpp' 'host/*.cpp' 'cli/*.cpp' | xargs clang-tidy -p $(BUILD) --quiet

clean:
	@rm -rf build

# --- ui: the web UI (ui/, docs/ui.md) ---------------------------------------
# build, run and test build it into ui/dist after the install and configure
# steps; `dtq serve --ui-dir ui/dist` serves it. npm ci only when the
# lockfile changed, the bundle only when a source did.
.PHONY: ui ui-clean
ui:
	@scripts/build-ui.sh
build: ui
test: ui
ui-clean:
	@rm -rf ui/dist
clean: ui-clean
# --- end ui ------------------------------------------------------------------
# --- graphql: the GraphQL gateway (gateway/, docs/graphql.md) ---------------
# build (so run) installs its npm packages, npm ci only when the lockfile
# changed; `dtq serve --gateway gateway/src/main.mjs` supervises it.
.PHONY: gateway
gateway:
	@scripts/build-gateway.sh
build: gateway
# --- end graphql -------------------------------------------------------------

# --- bench: make bench runs dtq beside BullMQ and River (docs/benchmarks.md);
# River's PostgreSQL comes with the bench profile of install-deps.
.PHONY: bench-deps
bench-deps:
	@scripts/install-deps.sh bench
bench: bench-deps
# --- end bench ---------------------------------------------------------------

# --- fuzz: the libFuzzer targets (tests/fuzz/, docs/openapi.md) ------------
# make fuzz runs each for FUZZ_SECONDS (default 600), or only FUZZ_TARGETS;
# a crash is kept under tests/fuzz/regressions/ and fails the run.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz: test-deps
	@tests/fuzz/run.sh build $(BUILD)/fuzz
	@tests/fuzz/run.sh long $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# --- end fuzz ----------------------------------------------------------------
