# Wharf: `make demo` runs the whole thing locally; `make test` runs every test.
# Both install the AWS emulator (moto server, pinned) into .venv when missing.

MOTO_VERSION := 5.2.5
VENV := .venv
MOTO := $(VENV)/bin/moto_server
# nextest runs each test in its own process (each starts its own moto);
# plain `cargo test` works too where nextest is missing.
TEST_RUNNER := $(if $(shell command -v cargo-nextest),cargo nextest run --no-fail-fast,cargo test)

# Container tests and the demo's container sample use this locally built image.
TEST_IMAGE := wharf-test-busybox:latest
BUSYBOX := $(firstword $(wildcard /bin/busybox /usr/bin/busybox))
DOCKER_UP := $(shell docker info >/dev/null 2>&1 && echo yes)

.PHONY: demo test lint build release clean test-images

demo: $(MOTO) build test-images
	./scripts/demo.sh

test: $(MOTO) build test-images
	$(TEST_RUNNER) --workspace

# Builds the busybox test image when a Docker engine answers (container tests
# then run; under CI=true they fail rather than skip without an engine).
test-images:
ifneq ($(DOCKER_UP),yes)
	@echo "no Docker engine answers: container tests and the container sample are skipped"
else ifeq ($(BUSYBOX),)
	@echo "busybox not found (apt-get install busybox-static): cannot build $(TEST_IMAGE)"
	@test -z "$$CI"
else
	@tmp=$$(mktemp -d) && cp $(BUSYBOX) worker-host/tests/images/busybox/Dockerfile $$tmp/ && \
	  docker build --quiet --tag $(TEST_IMAGE) $$tmp >$$tmp/build.log 2>&1 || { cat $$tmp/build.log; exit 1; }; \
	  rm -rf $$tmp; echo "built $(TEST_IMAGE)"
endif

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

build:
	cargo build --workspace --bins

release:
	cargo build --workspace --bins --release

$(MOTO):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'

clean:
	cargo clean
	rm -rf $(VENV) .demo
