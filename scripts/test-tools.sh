#!/usr/bin/env bash
# scripts/test-tools.sh — install the local test servers the tests start themselves:
#
#   stripe-mock  (Stripe's API from its OpenAPI description)  → TestAgainstStripeMock
#   versitygw    (a real S3 gateway that checks signatures)  → the S3 signature tests
#   golangci-lint (the static checks of .golangci.yml)        → `make test` runs it after the tests
#   govulncheck  (known vulnerabilities our code calls)       → `make test` runs it last, through
#                 scripts/vulncheck (database: golang.org/x/vulndb via the module proxy)
#
# All go with `go install` into $(go env GOBIN) or $(go env GOPATH)/bin, where the tests look
# when the tool is not on PATH. Idempotent and fast: a tool already there at the pinned
# version is left alone (checked with `go version -m`, no network). Called by scripts/setup.sh
# (so before every `make test`) and by CI.
set -euo pipefail

STRIPE_MOCK_VERSION="${STRIPE_MOCK_VERSION:-v0.203.0}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"

say() { printf 'setup: %-10s %s\n' "$1" "$2"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
[ -n "$GO" ] || die "go not found: install Go (see go.mod) to install the test tools"

bindir="$("$GO" env GOBIN)"
[ -n "$bindir" ] || bindir="$("$GO" env GOPATH)/bin"

# install_tool NAME PACKAGE VERSION: go install PACKAGE@VERSION unless bindir/NAME is that
# version already.
install_tool() {
	local name="$1" pkg="$2" version="$3" bin have=""
	bin="$bindir/$name"
	if [ -x "$bin" ]; then
		have="$("$GO" version -m "$bin" 2>/dev/null | awk '$1 == "mod" { print $3; exit }')"
	fi
	if [ "$have" = "$version" ]; then
		say "$name" "ok ($version in $bindir)"
		return
	fi
	say "$name" "installing $pkg@$version (go install)"
	"$GO" install "$pkg@$version" || die "go install $pkg@$version failed"
	[ -x "$bin" ] || die "go install $pkg@$version left no $bin"
	say "$name" "installed $version into $bindir"
}

install_tool stripe-mock github.com/stripe/stripe-mock "$STRIPE_MOCK_VERSION"
install_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
install_tool golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION"
install_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION"
