# Two commands for a fresh machine: `make dev` runs Herald, `make test` runs the checks.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: dev test lint bench bench-acceptance bench-audiences bench-schedules bench-replicas bench-webhooks compose-test screenshots clean

# Running Herald needs Herald alone; the checks add their tools on top.
$(VENV)/.runnable: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e . -e clients/python
	touch $@

$(VENV)/.installed: $(VENV)/.runnable
	$(BIN)/pip install --quiet -e ".[test]" -e clients/python
	touch $@

dev: $(VENV)/.runnable
	$(BIN)/herald dev

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests clients $(wildcard bench)
	$(BIN)/ruff format --check src tests clients $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/mypy --strict clients/python/src
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# About eight minutes on a 2-core machine; needs PostgreSQL, Redis and RabbitMQ like the tests,
# and Debian's wrk and postfix for the independent harness it runs beside its own.
bench: $(VENV)/.installed
	@# The independent harness's tools, from Debian: wrk, and postfix for smtp-sink and
	@# smtp-source (its own mail service is not wanted, so it is stopped).
	@if ! command -v wrk >/dev/null || [ ! -x /usr/sbin/smtp-sink ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk postfix >/dev/null \
		&& (postfix stop >/dev/null 2>&1 || true); fi
	$(BIN)/python -m bench.run

# Batches of 1,000 and a send to a topic of 100,000 subscribers, delivered to a local
# SMTP sink (docs/benchmarks.md); about six minutes.
bench-acceptance: $(VENV)/.installed
	$(BIN)/python -m bench.acceptance

bench-audiences: $(VENV)/.installed
	$(BIN)/python -m bench.audiences

bench-schedules: $(VENV)/.installed
	$(BIN)/python -m bench.schedules

# End-to-end email with one and with two replicas of the gateway and the email worker
# (docs/scaling.md); about six minutes.
bench-replicas: $(VENV)/.installed
	$(BIN)/python -m bench.replicas

# Webhook events delivered by the webhook worker beside bare HTTP clients posting to
# the same receiver (docs/benchmarks.md); about a minute. wrk comes from Debian.
bench-webhooks: $(VENV)/.installed
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	$(BIN)/python -m bench.webhooks

# Boots compose.yaml for real and sends one email through it (docs/deploy.md). Starts a
# Docker engine if none runs and builds stand-ins for images no registry serves here.
compose-test: $(VENV)/.installed
	$(BIN)/python -m tests.compose.boot

# The console's browser tests, keeping their screenshots in docs/console (the README
# shows them). Needs Debian's chromium.
screenshots: $(VENV)/.installed
	HERALD_SCREENSHOTS=1 $(BIN)/pytest tests/browser -p no:cacheprovider

clean:
	rm -rf $(VENV) .herald .mypy_cache .ruff_cache .pytest_cache
