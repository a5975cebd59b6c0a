# Wharf: `make demo` runs the whole thing locally; `make test` runs every test.
# Both install the AWS emulator (moto server, pinned) into .venv when missing.

MOTO_VERSION := 5.2.5
VENV := .venv
MOTO := $(VENV)/bin/moto_server
# Deploy and lint tools, pinned, in a venv of their own (their boto pins
# differ from moto's): cargo-lambda, cfn-lint, the SAM CLI, the AWS CLI.
TOOLS := .venv-tools
AWS_CLI := $(TOOLS)/bin/aws
TOOL_PINS := 'cargo-lambda==1.9.2' 'cfn-lint==1.58.0' 'aws-sam-cli==1.170.0' 'awscli==1.46.3'
# schemathesis, pinned, checks the live API against its OpenAPI document.
API_CHECK := .venv-api-check
SCHEMATHESIS := $(API_CHECK)/bin/schemathesis
SCHEMATHESIS_VERSION := 4.32.5
CONSOLE_CHECK := .venv-console
SELENIUM_VERSION := 4.51.0
SELENIUM := $(CONSOLE_CHECK)/selenium-$(SELENIUM_VERSION).installed
# The benchmarks' peers, pinned, in a venv of their own.
BENCH_VENV := .venv-bench
BENCH_PEERS := $(BENCH_VENV)/bin/celery
BENCH_PINS := 'celery[sqs]==5.7.0' 'awscli==1.46.3'
# CI builds the Lambda artifacts for x86_64 (the aarch64 target cannot be
# installed here); a deployment builds for the template's Architecture.
LAMBDA_ARCH := --x86-64
export SAM_CLI_TELEMETRY := 0
# nextest runs each test in its own process (each starts its own moto);
# plain `cargo test` works too where nextest is missing.
TEST_RUNNER := $(if $(shell command -v cargo-nextest),cargo nextest run --no-fail-fast,cargo test)

.PHONY: bench bench-smoke demo test api-check console-check console-screenshots lint lint-infra build release lambda worker-image deploy clean test-images tools

demo: $(MOTO) build
	./scripts/demo.sh

# The benchmarks (bench/README.md) with release builds; the peers (Celery,
# the AWS CLI) come from PyPI into a venv of their own. bench-smoke runs the
# same scripts with tiny sizes on the debug build (CI), timings unread.
bench: $(MOTO) $(BENCH_PEERS) test-images
	cargo build --release --bins --example bench_probe
	cd bench && python3 run.py

bench-smoke: $(MOTO) $(BENCH_PEERS) build test-images
	cargo build --example bench_probe
	cd bench && WHARF_BENCH_SMOKE=1 WHARF_BENCH_BIN=$(CURDIR)/target/debug python3 run.py

# Every test (scripts/test.sh): the workspace's, then schemathesis against a
# live API and the console in headless Chromium. What this machine cannot run
# (no Docker engine; no busybox or chromium, and no root with apt-get to
# install them) is reported SKIPPED; under CI=true it fails instead.
test: $(MOTO) $(AWS_CLI) $(SCHEMATHESIS) $(SELENIUM) build
	./scripts/test.sh

api-check: $(MOTO) $(SCHEMATHESIS) build
	./scripts/api-check.sh

# The web console in headless Chromium (Debian's chromium, chromium-driver);
# skipped visibly without them, required under CI=true.
console-check: $(MOTO) $(SELENIUM) build
	./scripts/console-check.sh

# Screenshots of each console page into docs/console/ (for README).
console-screenshots: $(MOTO) $(SELENIUM) build
	CONSOLE_SCREENSHOTS=docs/console ./scripts/console-check.sh

tools: $(AWS_CLI)

# The busybox image of the container tests, the demo's container sample and
# the container benchmark (installs busybox-static as root when missing).
test-images:
	./scripts/test-images.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

lint-infra: $(AWS_CLI)
	$(TOOLS)/bin/cfn-lint infra/template.yaml
	$(TOOLS)/bin/sam validate --lint --template infra/template.yaml --region us-east-1
	nft --check --file infra/wharf-metadata.nft

build:
	cargo build --workspace --bins

# Release builds go through cargo-lambda, so the functions and the worker
# share one optimised build of their dependencies.
CARGO_LAMBDA_BUILD := PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH cargo lambda build --release --compiler cargo $(LAMBDA_ARCH)

# The Lambda functions as provided.al2023 bootstraps and zips, with their
# sizes; then the built bootstraps are invoked as Lambda would (Runtime API
# emulator, real API Gateway and SQS events: functions/tests/lambda.rs).
lambda: $(AWS_CLI) $(MOTO)
	$(CARGO_LAMBDA_BUILD) --bin wharf-api --bin wharf-dlq --bin wharf-control
	$(CARGO_LAMBDA_BUILD) --output-format zip --bin wharf-api --bin wharf-dlq --bin wharf-control
	@ls -l target/lambda/wharf-api/bootstrap.zip target/lambda/wharf-dlq/bootstrap.zip target/lambda/wharf-control/bootstrap.zip | awk '{printf "%s\t%d bytes\n", $$9, $$5}'
	WHARF_LAMBDA_DIR=$(CURDIR)/target/lambda $(TEST_RUNNER) -p wharf-functions --test lambda

# target/wharf-worker: the worker host, optimised; it links only glibc (TLS
# is rustls), so it runs on any Linux with glibc 2.34+.
release: $(AWS_CLI)
	$(CARGO_LAMBDA_BUILD) --bin wharf-worker
	cp target/lambda/wharf-worker/bootstrap target/wharf-worker
	@ls -l target/wharf-worker | awk '{printf "%s\t%d bytes\n", $$9, $$5}'

# The worker image, from a root filesystem assembled here (no registry).
worker-image: release
	scripts/worker-rootfs.sh target/worker-rootfs target/wharf-worker
	docker build --quiet --file infra/worker.Dockerfile --tag wharf-worker:latest target/worker-rootfs
	docker run --rm wharf-worker:latest --version
	@docker image inspect wharf-worker:latest --format 'wharf-worker:latest {{.Size}} bytes'

# Deploy to AWS (needs an account and credentials; not run in CI).
deploy: $(AWS_CLI)
	cd infra && PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH sam build && \
	  PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH sam deploy --guided

$(MOTO):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'

$(SELENIUM):
	python3 -m venv $(CONSOLE_CHECK)
	$(CONSOLE_CHECK)/bin/pip install --quiet --disable-pip-version-check 'selenium==$(SELENIUM_VERSION)'
	touch $@

$(SCHEMATHESIS):
	python3 -m venv $(API_CHECK)
	$(API_CHECK)/bin/pip install --quiet --disable-pip-version-check 'schemathesis==$(SCHEMATHESIS_VERSION)'

$(BENCH_PEERS):
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check $(BENCH_PINS)

$(AWS_CLI):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check $(TOOL_PINS)

clean:
	cargo clean
	rm -rf $(VENV) $(TOOLS) $(API_CHECK) $(CONSOLE_CHECK) $(BENCH_VENV) .demo
