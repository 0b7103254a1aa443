# Two commands matter: `make demo` (the local stack) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The compiled parser is built by the install: a change to it installs again.
BUILT_FROM := pyproject.toml setup.py exporter/inference_exporter/_fastparse.pyx exporter/inference_exporter/_fastformat.pyx
STAMP := $(VENV)/.installed-$(shell cat $(BUILT_FROM) | sha256sum | cut -c1-12)

# The dashboard schema checker: TypeScript and @grafana/schema from npm, pinned by the lock file.
SCHEMA_TOOLS := grafana-dashboards/schema/node_modules/.package-lock.json

.PHONY: venv tools schema-tools test lint docs generate check-generated demo demo-stop bench clean

$(STAMP): $(BUILT_FROM)
	@echo ">> creating virtual environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[test,demo,dashboards]' -e ./devtools
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

tools:
	@deploy/local/install-tools.sh

$(SCHEMA_TOOLS): grafana-dashboards/schema/package-lock.json
	@echo ">> installing the dashboard schema checker (npm ci, versions from package-lock.json)"
	@npm ci --prefix grafana-dashboards/schema --no-audit --no-fund --loglevel=error
	@touch $@

schema-tools: tools $(SCHEMA_TOOLS)

lint: venv
	$(BIN)/ruff check .

docs: venv
	$(BIN)/python -m inference_devtools.metrics_doc

# Every committed generated file, in dependency order.
generate: venv
	@$(BIN)/python -m inference_devtools.metrics_doc
	@$(BIN)/python rules/generate.py
	@$(BIN)/python tests/rules/unit_cases.py
	@$(BIN)/python grafana-dashboards/generate.py
	@$(BIN)/python deploy/kubernetes/sync_dashboards.py
	@$(BIN)/python alertmanager/to_operator.py

# Regenerating must change nothing, as node_exporter checks `make generate && git diff --exit-code`;
# comparing the working tree before and after (not against HEAD) also works with uncommitted edits.
STATE = { git diff; git status --porcelain --untracked-files=all; } | sha256sum
check-generated: venv
	@before=$$($(STATE)); $(MAKE) --no-print-directory -s generate >/dev/null || exit 1; after=$$($(STATE)); \
	if [ "$$before" != "$$after" ]; then \
	  echo "generated files were stale and are now regenerated: review and commit them" >&2; \
	  git status --short >&2; exit 1; fi; \
	echo ">> generated files are fresh"

test: venv tools schema-tools check-generated
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: venv tools
	$(BIN)/python deploy/local/demo.py

demo-stop:
	@$(BIN)/python deploy/local/demo.py --stop

bench: venv tools
	$(BIN)/python bench/scrape.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .demo grafana-dashboards/schema/node_modules
