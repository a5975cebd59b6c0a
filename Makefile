# Wharf: `make demo` runs the whole thing locally; `make test` runs every test.
# Both install the AWS emulator (moto server, pinned) into .venv when missing.

MOTO_VERSION := 5.2.5
VENV := .venv
MOTO := $(VENV)/bin/moto_server
# nextest runs each test in its own process (each starts its own moto);
# plain `cargo test` works too where nextest is missing.
TEST_RUNNER := $(if $(shell command -v cargo-nextest),cargo nextest run --no-fail-fast,cargo test)

.PHONY: demo test lint build release clean

demo: $(MOTO) build
	./scripts/demo.sh

test: $(MOTO) build
	$(TEST_RUNNER) --workspace

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
