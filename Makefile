# Axon backend. `make` (or `make help`) lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Find the Go toolchain: PATH first, then the default tarball install.
ifeq ($(shell command -v go 2>/dev/null),)
  ifneq ($(wildcard /usr/local/go/bin/go),)
    export PATH := /usr/local/go/bin:$(PATH)
  endif
endif
GO ?= go
# go.mod's toolchain line (a Go patch release with the standard library's security fixes)
# is honoured even where the machine's Go says GOTOOLCHAIN=local: the go command fetches that
# toolchain through the module proxy once (about 76 MB). `make GOTOOLCHAIN=local` opts out.
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
GOFMT = $(shell $(GO) env GOROOT)/bin/gofmt
# golangci-lint: PATH first, then where scripts/test-tools.sh installs it.
GOLANGCI_LINT ?= $(shell command -v golangci-lint 2>/dev/null || echo "$$($(GO) env GOPATH)/bin/golangci-lint")

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN     ?= bin/axon

# Test environment; an environment variable or `make VAR=...` wins.
APP_ENV      ?= test
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable
REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: help setup dev test test-security test-faults fuzz lint vulncheck build bench bench-go eval

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_.-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: ## Install/start PostgreSQL + pgvector and Redis, create the axon and axon_test databases, install stripe-mock and versitygw
	@bash scripts/setup.sh

dev: setup ## Run migrate + serve + work in one process (axon dev)
	$(GO) run . dev

test: export APP_ENV := $(APP_ENV)
test: export DATABASE_URL := $(DATABASE_URL)
test: export REDIS_URL := $(REDIS_URL)
test: export AXON_REQUIRE_TOOLS := 1
test: setup ## Run all tests with -race against local Postgres/Redis (stripe-mock and versitygw required), then golangci-lint and govulncheck
	$(GO) test -race -count=1 -p 2 -timeout 15m ./...
	$(GOLANGCI_LINT) run --timeout 5m ./...
	$(GO) run ./scripts/vulncheck

vulncheck: ## govulncheck against golang.org/x/vulndb's latest OSV entries (through the module proxy); fails on a called vulnerability not in scripts/vulncheck/allow.txt
	$(GO) run ./scripts/vulncheck -v

test-security: export APP_ENV := $(APP_ENV)
test-security: export DATABASE_URL := $(DATABASE_URL)
test-security: export REDIS_URL := $(REDIS_URL)
test-security: ## Security suite: tenant-isolation matrix, JWT attacks, refresh reuse, rate-limit evasion, secret leaks (security_*_test.go; also part of `make test`)
	$(GO) test -race -count=1 -run '^TestSecurity' .

FUZZTIME ?= 10s
fuzz: export APP_ENV := $(APP_ENV)
fuzz: export DATABASE_URL := $(DATABASE_URL)
fuzz: export REDIS_URL := $(REDIS_URL)
fuzz: ## Run every Fuzz target for FUZZTIME each (default 10s); `go test` runs only their seed corpora
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  pkg=$$(dirname "$$f"); \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
	    echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	  done; \
	done

test-faults: export APP_ENV := $(APP_ENV)
test-faults: export DATABASE_URL := $(DATABASE_URL)
test-faults: export REDIS_URL := $(REDIS_URL)
test-faults: export AXON_REQUIRE_TOOLS := 1
test-faults: setup ## Fault suite (e2e/faults_*_test.go, build tag faults): kills and outages, one "FAULT name: ... lost 0, duplicated 0" line each (~8 min)
	$(GO) test -tags faults -count=1 -v -run Fault -timeout 30m ./e2e/

lint: ## gofmt check, go vet, and golangci-lint when installed
	@out="$$($(GOFMT) -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if [ -x "$(GOLANGCI_LINT)" ]; then echo "golangci-lint run"; "$(GOLANGCI_LINT)" run ./...; \
	else echo "golangci-lint not installed (scripts/test-tools.sh installs it): skipped"; fi

build: ## Build a static binary into bin/axon
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) .

bench: export APP_ENV := $(APP_ENV)
bench: export DATABASE_URL := $(DATABASE_URL)
bench: export REDIS_URL := $(REDIS_URL)
bench: setup ## Benchmark suite: every scenario against a same-run baseline, one table, written to docs/performance.md (bench/all; ~10 min; BENCH_BACKUP=1 adds the 1 GB backup)
	$(GO) run ./bench/all -write docs/performance.md

bench-go: ## Every Benchmark function of every package (go test -bench, no tests)
	$(GO) test -run '^$$' -bench . -benchmem ./...

eval: export APP_ENV := $(APP_ENV)
eval: export DATABASE_URL := $(DATABASE_URL)
eval: export REDIS_URL := $(REDIS_URL)
eval: ## Answer-quality evaluation: retrieval ranks and agent answers on the kept bike-shop corpus (bench/retrieval)
	$(GO) run ./bench/retrieval
