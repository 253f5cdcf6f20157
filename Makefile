# The two commands a newcomer runs: `make demo` and `make test`. Both install the system
# packages Gatehouse builds against when they are missing (Debian/Ubuntu, via apt-get).

SWIFT ?= swift
SYSTEM_PACKAGES := libjansson-dev libsqlite3-dev pkg-config
GATEHOUSE := .build/debug/gatehouse
DEV_SET := policies/dev-accounts-update.json policies/deny-protected-accounts.json policies/require-mfa.json

.PHONY: deps build demo test lint policies bench format

deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; \
	fi

build: deps
	$(SWIFT) build --product gatehouse

# The main job for now: check the example policies, then decide sample requests against them.
demo: build
	@echo "== gatehouse lint policies/"
	@$(GATEHOUSE) lint policies/
	@echo; echo "== a developer limited to env=dev accounts updates a dev account (allowed, exit 0)"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --request samples/requests/dev-update-allowed.json; echo "exit $$?"
	@echo; echo "== the same developer updates a prod account (denied, exit 1)"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --request samples/requests/prod-update-denied.json; echo "exit $$?"
	@echo; echo "== why: gatehouse explain"
	@$(GATEHOUSE) explain --policies $(DEV_SET) --request samples/requests/prod-update-denied.json; true
	@echo; echo "== a batch, one JSON decision per line"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --requests samples/requests/batch.jsonl --format json; echo "exit $$?"

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

lint: build
	$(SWIFT) format lint --strict --recursive Sources Tests

# The example policies must lint clean, be in canonical form and pass their tests.
policies: build
	$(GATEHOUSE) lint --strict policies/
	$(GATEHOUSE) fmt --check policies/
	$(GATEHOUSE) test policies/

# Release build; figures go to docs/PERFORMANCE.md and closing notes.
bench: deps
	Benchmarks/engine.sh

format:
	$(SWIFT) format format --in-place --recursive Sources Tests
