# proactive-care: `make run` and `make test` are the two commands; everything else is set up on the way.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEN := services/gen
PROTOS := $(wildcard protos/proactivecare/v1/*.proto)

.PHONY: all setup gen run test unit integration lint bench kafka-start kafka-stop clean

all: setup

setup: $(VENV)/.installed $(GEN)/.stamp

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Generated code is produced by the build, never edited by hand. grpc_tools writes absolute imports
# (`from proactivecare.v1 import ...`); they are rewritten to live inside the `services` package.
$(GEN)/.stamp: $(PROTOS) $(VENV)/.installed
	rm -rf $(GEN) && mkdir -p $(GEN)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=$(GEN) --grpc_python_out=$(GEN) --pyi_out=$(GEN) $(PROTOS)
	find $(GEN) -name '*.py*' -exec sed -i -E 's/^from proactivecare\.v1 import/from services.gen.proactivecare.v1 import/' {} +
	touch $(GEN)/__init__.py $(GEN)/proactivecare/__init__.py $(GEN)/proactivecare/v1/__init__.py
	touch $@

run: setup
	$(BIN)/proactive-care run

test: setup lint
	$(BIN)/pytest -q tests/unit tests/integration tests/e2e

unit: setup
	$(BIN)/pytest -q tests/unit

lint: setup
	$(BIN)/ruff check services tests

bench: setup
	$(BIN)/proactive-care bench all --out bench-results.json

kafka-start: setup
	$(BIN)/proactive-care kafka start

kafka-stop: setup
	$(BIN)/proactive-care kafka stop

clean:
	rm -rf $(GEN) $(VENV) .pytest_cache bench-results.json
