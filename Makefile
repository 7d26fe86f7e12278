# proactive-care: `make run` and `make test` are the two commands; everything else is set up on the way.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEN := services/gen
PROTOS := $(wildcard protos/proactivecare/v1/*.proto)

.PHONY: all setup tools gen run test test-broker-restart test-browser screenshots browser unit integration lint bench kafka-start kafka-stop clean

all: setup

setup: $(VENV)/.installed $(GEN)/.stamp

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Generated code is produced by the build, never edited by hand (services/devtools/codegen.py).
$(GEN)/.stamp: $(PROTOS) $(VENV)/.installed services/devtools/codegen.py
	$(BIN)/python -m services.devtools.codegen
	touch $@

run: setup
	$(BIN)/proactive-care run

# Tools the operations tests run: promtool (Debian's prometheus package), kustomize (Go module proxy),
# composecheck (deploy/composecheck: Docker Compose's own loader, compose-go), and the gRPC ecosystem's grpcurl
# and ghz (the reflection test drives them). Where one cannot be installed, its tests skip and say why.
# buf (npm) is not optional: `make lint` runs it.
tools: $(BIN)/promtool $(BIN)/kustomize $(BIN)/composecheck $(BIN)/grpcurl $(BIN)/ghz $(BIN)/buf

$(BIN)/promtool: | $(VENV)/.installed
	command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; } \
	  || echo "promtool could not be installed: the alert-rule tests will skip"
	if command -v promtool >/dev/null; then ln -sf "$$(command -v promtool)" $@; fi

$(BIN)/kustomize: | $(VENV)/.installed
	GOBIN=$(abspath $(BIN)) go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0 \
	  || echo "kustomize could not be installed: the Kubernetes render tests will skip"

$(BIN)/grpcurl: | $(VENV)/.installed
	GOBIN=$(abspath $(BIN)) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4 \
	  || echo "grpcurl could not be installed: its reflection test will skip"

$(BIN)/ghz: | $(VENV)/.installed
	GOBIN=$(abspath $(BIN)) go install github.com/bojand/ghz/cmd/ghz@v0.93.0 \
	  || echo "ghz could not be installed: its reflection test will skip"

# buf from npm (@bufbuild/buf ships the binary), kept inside the virtualenv.
$(BIN)/buf: | $(VENV)/.installed
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm @bufbuild/buf@1.75.0
	ln -sf $(abspath $(VENV))/npm/node_modules/.bin/buf $@

$(BIN)/composecheck: deploy/composecheck/go.mod deploy/composecheck/main.go | $(VENV)/.installed
	cd deploy/composecheck && go build -o $(abspath $@) . \
	  || echo "composecheck could not be built: the compose file test will skip"

# Two workers (pytest-xdist; TEST_WORKERS=0 runs in one process), each test file on one worker (its module
# fixtures once), each worker with its own broker, PostgreSQL and fraud model on free ports. --durations: the
# slowest tests, printed at the end, to keep `make test` within its 15-minute budget (16.5 minutes in one process
# in a clean-clone run on 2026-12-01, about 11 on two workers).
TEST_WORKERS ?= 2
test: setup lint tools
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 -m "not broker_restart" \
	  tests/unit tests/integration tests/security tests/e2e

# The replica processes through a broker killed with kill -9 and restarted mid-stream: 1-2 minutes more than the
# same test without it, beyond `make test`'s time budget, so on its own.
test-broker-restart: setup
	$(BIN)/pytest -q -m broker_restart tests/integration/replicas

# The console in a real browser (tests/browser): Debian's chromium and chromium-driver, driven by Selenium. Where
# they cannot be installed, the browser tests skip and say why.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || echo "chromium could not be installed: the browser tests will skip"

test-browser: setup browser
	$(BIN)/pytest -q -rs tests/browser

# The README's pictures of the console, taken by the browser tests (services/console/docs/*.png).
screenshots: setup browser
	SCREENSHOTS_DIR=services/console/docs $(BIN)/pytest -q -rs tests/browser

unit: setup
	$(BIN)/pytest -q tests/unit

# The API contract: buf lint (STANDARD + COMMENTS, protos/buf.yaml) and buf breaking against the previous
# commit (skipped, and said so, where there is none, e.g. a shallow clone).
lint: setup $(BIN)/buf
	$(BIN)/ruff check services tests
	$(BIN)/buf lint protos
	if git rev-parse -q --verify HEAD~1 >/dev/null; then \
	  $(BIN)/buf breaking protos --against '.git#ref=HEAD~1,subdir=protos'; \
	else echo "buf breaking skipped: no previous commit to compare with"; fi

bench: setup
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/proactive-care bench all --out bench-results.json

kafka-start: setup
	$(BIN)/proactive-care kafka start

kafka-stop: setup
	$(BIN)/proactive-care kafka stop

clean:
	rm -rf $(GEN) $(VENV) .pytest_cache bench-results.json
