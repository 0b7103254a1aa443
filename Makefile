# Two commands matter: `make demo` (the local stack) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: venv tools test lint docs demo demo-stop bench clean

$(STAMP): pyproject.toml
	@echo ">> creating virtual environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[test,demo]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

tools:
	@deploy/local/install-tools.sh

lint: venv
	$(BIN)/ruff check .

docs: venv
	$(BIN)/python -m inference_exporter.schema_doc

test: venv tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv tools
	$(BIN)/python deploy/local/demo.py

demo-stop:
	@$(BIN)/python deploy/local/demo.py --stop

bench: venv tools
	$(BIN)/python bench/scrape.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .demo
