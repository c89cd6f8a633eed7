# socklab: `make scenario NAME=refused` sets up what is missing, builds the image, runs, reports.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NAME ?= refused
BACKEND ?=
HAVE_DOCKER := $(shell test -S /var/run/docker.sock && echo yes)
# The node image is needed only where the compose backend will run.
NEED_IMAGES := $(if $(filter netns,$(BACKEND)),,$(if $(HAVE_DOCKER),images,))
BACKEND_FLAG := $(if $(BACKEND),--backend $(BACKEND),)
JOBS_FLAG := $(if $(JOBS),-j $(JOBS),)
# Tests mostly wait on kernel timers: 8 at once on two cores (longest first, see conftest.py).
TEST_JOBS ?= 8
# What `make scenario` needs (mmdebstrap: the node image's base where nothing can be pulled);
# the test setup adds QEMU and its initramfs tools (other kernels), tmux (the lab's terminal
# test), Chromium (report.html) and the dev tools (pytest, ruff, mypy).
HOST_PACKAGES := tcpdump nftables iptables util-linux bubblewrap mmdebstrap strace gcc libc6-dev make
TEST_PACKAGES := tmux qemu-system-x86 busybox-static cpio kmod

.PHONY: help setup images box scenario suite test lint clean distclean

help:
	@echo "make scenario NAME=refused [BACKEND=compose|netns]   run one scenario and report"
	@echo "make suite [BACKEND=...]                             run every scenario, one table"
	@echo "make test                                            lint, type-check, the test suite"
	@echo "make images                                          build the node image (no registry)"
	@echo "make box                                             build socklab:latest, socklab in a container"
	@echo "make clean                                           remove what crashed runs left"

setup: $(VENV)/.stamp host-packages c-programs

# Everything the test suite needs besides: `make test` runs it first.
.PHONY: test-setup
test-setup: setup $(VENV)/.dev-stamp
	@missing=""; for pkg in $(TEST_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "socklab: installing Debian packages for the tests:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# a headless browser for the test that looks at report.html (GitHub's runner has Chrome)
	@command -v chromium >/dev/null || command -v google-chrome >/dev/null || \
	  { echo "socklab: installing Debian packages: chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.dev-stamp: $(VENV)/.stamp pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The book's programs in C, static: the same binaries run in netns hosts and in containers.
.PHONY: c-programs
c-programs: host-packages
	$(MAKE) -s -C harness/programs/c

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	$(BIN)/pip install --quiet -e .
	touch $@

.PHONY: host-packages
host-packages:
	@missing=""; for pkg in $(HOST_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "socklab: installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

images: setup
	bash images/build

# socklab in a box (socklab:latest): the netns backend in one privileged container.
box: setup
	bash images/build-box

scenario: setup $(NEED_IMAGES)
	$(BIN)/socklab run $(NAME) $(BACKEND_FLAG)

suite: setup $(NEED_IMAGES)
	$(BIN)/socklab suite $(BACKEND_FLAG) $(JOBS_FLAG)

lint: test-setup
	$(BIN)/ruff check harness tests bench setup.py
	$(BIN)/ruff format --check harness tests bench setup.py
	$(BIN)/mypy

# Most of a run is waiting on kernel timers: TEST_JOBS workers, longest tests first, idle ones
# steal. Tests that count or kill things machine-wide (teardown, leftovers) run afterwards, one
# at a time, while a second pytest runs the QEMU guest's tests beside them (its output after).
test: test-setup images lint
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist worksteal -m "not serial" --durations=15
	@guest_log=$$(mktemp); \
	$(BIN)/pytest -q -m "serial and guest" > $$guest_log 2>&1 & guest=$$!; \
	$(BIN)/pytest -q -m "serial and not guest" --durations=5; machine=$$?; \
	wait $$guest; lane=$$?; echo "QEMU guest lane:"; cat $$guest_log; rm -f $$guest_log; \
	exit $$(( machine || lane ))

clean: setup
	$(BIN)/socklab clean

distclean: clean
	rm -rf $(VENV) runs
