# Everything installs into .venv; `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.installed-torch

JS_TESTS := tests/js
JS_STAMP := $(JS_TESTS)/node_modules/.installed

.PHONY: install install-torch test-packages js-clients run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e ".[dev,models]"
	touch $(STAMP)

# PyTorch (the GPU backend and its tests) through pip rather than uv: pip honours a pip.conf that
# points at a local CPU build, and uv would fetch the default CUDA build instead.
install-torch: $(TORCH_STAMP)

$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	touch $(TORCH_STAMP)

# Debian packages whose programs the tests run, as command:package pairs, installed (as root,
# through apt) only when the command is missing: pgbouncer for tests/acceptance/test_pooler.py,
# chromium and its chromedriver for the browser tests (tests/support/browser.py).
# The tests start their own daemons on free ports, so a system service that a package starts on
# install (where no policy-rc.d forbids it) is stopped and disabled: it would hold a port and
# run for nothing.
TEST_PACKAGES := pgbouncer:pgbouncer chromium:chromium chromedriver:chromium-driver

test-packages:
	@PATH="$$PATH:/usr/sbin"; missing=; \
	for pair in $(TEST_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	echo "installing Debian packages for the tests:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing || exit 1; \
	for package in $$missing; do \
		if [ -d /run/systemd/system ] && [ -e "/lib/systemd/system/$$package.service" ]; then \
			systemctl disable --now -q "$$package" || true; \
		elif [ -x "/etc/init.d/$$package" ]; then \
			"/etc/init.d/$$package" stop >/dev/null 2>&1 || true; \
			update-rc.d "$$package" disable >/dev/null 2>&1 || true; \
		fi; \
	done

# The official JavaScript clients the acceptance tests drive, exactly as package-lock.json pins.
js-clients: $(JS_STAMP)

$(JS_STAMP): $(JS_TESTS)/package-lock.json
	cd $(JS_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

run: install
	$(BIN)/tilework serve

# The suite under coverage (branch, every Python process it starts; settings in pyproject.toml),
# then the report, which fails below its fail_under. All tiers run on two xdist workers, each
# taking the next test as it frees (worksteal): the worker and acceptance tests spend most of
# their time waiting on the processes they start, so one at a time left a core idle (111 % CPU
# for 679 s, against 509 s on two workers). Their time limits allow a loaded machine.
# PYTEST_ARGS narrows the run to one pytest (and lifts the floor, which only the whole suite
# must reach): make test PYTEST_ARGS=tests/api
test: install-torch test-packages js-clients
	rm -rf .coverage-data && mkdir .coverage-data
ifeq ($(PYTEST_ARGS),)
	$(BIN)/coverage run -m pytest --durations=25 -n 2 --dist worksteal
else
	$(BIN)/coverage run -m pytest --durations=25 $(PYTEST_ARGS)
endif
	$(BIN)/coverage combine -q
	$(BIN)/coverage report $(if $(PYTEST_ARGS),--fail-under=0)

# lint-imports checks the import contracts in pyproject.toml ([tool.importlinter]); the graph
# takes under a second to build, so no cache folder is kept.
lint: install-torch
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: install
	$(BIN)/python bench/submit.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage-data $(JS_TESTS)/node_modules
