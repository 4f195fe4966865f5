# The two set-up commands of the README: `make demo` and `make test`.
# Both install what they need: Debian packages (as root, or through sudo) and a virtualenv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# demo: real chroot builds; tests: also a real sshd, tmux, a headless browser, and dnsmasq
# with dig (the generated hosts table served and queried for real), a static busybox (a tiny
# chroot to run commands in)
DEMO_DEBS := mmdebstrap rsync
TEST_DEBS := $(DEMO_DEBS) busybox-static openssh-server openssh-client tmux chromium dnsmasq-base bind9-dnsutils
# bench: a real sshd (P6 over SSH, P8) and a real chroot build (P7)
BENCH_DEBS := $(DEMO_DEBS) openssh-server openssh-client
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench demo-deps test-deps bench-deps debs

$(BIN)/qlutui: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,serve]'
	touch $@

demo-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(DEMO_DEBS)"

test-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(TEST_DEBS)"

bench-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(BENCH_DEBS)"

# installs the Debian packages in DEBS that are missing
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: demo-deps $(BIN)/qlutui
	$(BIN)/qlutui demo demo

test: test-deps $(BIN)/qlutui
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(BIN)/qlutui
	$(BIN)/ruff check .
	$(BIN)/ruff format --check qlutui tests bench

bench: bench-deps $(BIN)/qlutui
	$(BIN)/python -m bench $(ARGS)
