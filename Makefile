# fiproxy — two commands do everything on a fresh machine:
#   make paper   full pipeline on the embedded (SIMULATED) default panel, ending in a paper draft
#   make test    the test suite
# Both create or refresh .venv from the pinned requirements.lock.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.fiproxy-installed

.PHONY: paper test test-all bench lock clean venv

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --python $(PY) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name fiproxy --display-name "fiproxy (.venv)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

paper: $(STAMP)
	$(VENV)/bin/fiproxy paper $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -n 2 $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -n 2 -m "" $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# Re-resolve pinned versions after editing pyproject.toml dependencies.
lock:
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock -q

clean:
	rm -rf $(VENV) runs .pytest_cache
