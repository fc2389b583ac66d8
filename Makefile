# fiproxy — two commands do everything on a fresh machine:
#   make paper   full pipeline on the embedded (SIMULATED) default panel, ending in a paper draft
#   make test    the test suite
# Both create or refresh .venv from the pinned requirements.lock.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.fiproxy-installed

.PHONY: paper test test-all bench lock clean venv sysdeps

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --python $(PY) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name fiproxy --display-name "fiproxy (.venv)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

# Debian tools the end-to-end tests use to look at the paper: headless Chromium (HTML) and
# pdftoppm (PDF pages). Installed when missing and run as root; otherwise those checks skip.
sysdeps:
	@if ! command -v pdftoppm >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing poppler-utils and chromium (Debian packages) for the paper checks"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils chromium >/dev/null; \
	  else echo "note: chromium / pdftoppm missing and not root: browser and PDF checks will be skipped"; fi; \
	fi

paper: $(STAMP)
	$(VENV)/bin/fiproxy paper $(ARGS)

test: $(STAMP) sysdeps
	$(PY) -m pytest -n 2 $(ARGS)

test-all: $(STAMP) sysdeps
	$(PY) -m pytest -n 2 -m "" $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# Re-resolve pinned versions after editing pyproject.toml dependencies.
lock:
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock -q

clean:
	rm -rf $(VENV) runs .pytest_cache
