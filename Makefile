# One entry point. `make demo` and `make test` create the virtual environment when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: setup demo test lint install-check clean

setup: $(VENV)/.installed

# Exact versions for this machine come from requirements/lock.txt (pip constraints);
# the package itself declares ranges so it also installs beside another torch (e.g. on a GPU box).
$(VENV)/.installed: pyproject.toml requirements/lock.txt requirements/no-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements/lock.txt -e '.[all,dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements/no-deps.txt
	touch $@

# The main job: the three pipelines on a local demo site, then tiny KOSMOS-1 trained on their shards.
demo: setup
	$(BIN)/kosmos-corpus demo --output $(OUT)
	$(BIN)/kosmos_train demo --data $(OUT)/text $(OUT)/image_text $(OUT)/interleaved --output $(OUT)/run

# What CI runs (.ci/run): lint, the test suite, then a fresh `.[pipelines]` install running the text pipeline.
test: lint
	$(BIN)/python -m pytest -q
	PYTHON=$(PYTHON) .ci/fresh_install

# Style is checked, not just advised: lint errors and unformatted files fail CI.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Alone: a fresh virtual environment with only .[pipelines] (a Dataflow worker's install) runs the text pipeline.
install-check:
	PYTHON=$(PYTHON) .ci/fresh_install

clean:
	rm -rf $(VENV) out .pytest_cache
