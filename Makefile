# The two set-up commands of the README: `make demo` and `make test`.
# Both install what they need: Debian packages (as root, or through sudo) and a virtualenv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := openssh-server openssh-client mmdebstrap rsync tmux chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench system-deps

$(BIN)/qlutui: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,serve]'
	touch $@

system-deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: system-deps $(BIN)/qlutui
	$(BIN)/qlutui demo demo

test: system-deps $(BIN)/qlutui
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(BIN)/qlutui
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/qlutui
	$(BIN)/python -m bench
