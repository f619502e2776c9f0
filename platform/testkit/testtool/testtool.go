// Package testtool finds the external test servers (stripe-mock, versitygw) that
// scripts/test-tools.sh installs, and decides what a missing one means: a skip on a
// developer's machine, a failure where the tools are required (CI, `make test`).
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether a missing tool fails the test instead of skipping it: in CI
// (CI=true, set by GitHub Actions and most CI systems) or when AXON_REQUIRE_TOOLS=1 (set
// by `make test`, which installs the tools first).
func Required() bool {
	return os.Getenv("AXON_REQUIRE_TOOLS") == "1" || strings.EqualFold(os.Getenv("CI"), "true")
}

// Find returns the path of the named binary: on PATH, else in $(go env GOBIN) or
// $(go env GOPATH)/bin, where `go install` puts it. The error says how to install it.
func Find(name, install string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	for _, v := range []string{"GOBIN", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			continue
		}
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if d == "" {
				continue
			}
			if v == "GOPATH" {
				d = filepath.Join(d, "bin")
			}
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (not on PATH nor in %v): run scripts/test-tools.sh or %s", name, dirs, install)
}

// Missing ends t for a tool that could not be found: t.Fatal when Required, else t.Skip.
func Missing(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%v (required: CI=true or AXON_REQUIRE_TOOLS=1)", err)
	}
	t.Skip(err)
}
