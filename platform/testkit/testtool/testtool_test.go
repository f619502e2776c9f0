package testtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	if _, err := Find("axon-no-such-tool", "go install example.com/none@v1"); err == nil || !strings.Contains(err.Error(), "go install example.com/none@v1") {
		t.Fatalf("missing tool: %v", err)
	}
	if p, err := Find("go", ""); err != nil || p == "" {
		t.Fatalf("go: %q %v", p, err)
	}
}

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, require string
		want        bool
	}{{"", "", false}, {"true", "", true}, {"", "1", true}, {"false", "0", false}} {
		t.Setenv("CI", c.ci)
		t.Setenv("AXON_REQUIRE_TOOLS", c.require)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q AXON_REQUIRE_TOOLS=%q: %v", c.ci, c.require, got)
		}
	}
}

// A missing tool fails the test (not skips it) where tools are required: run this test's
// helper in a child process with AXON_REQUIRE_TOOLS=1 and read its verdict.
func TestMissingFailsWhenRequired(t *testing.T) {
	if os.Getenv("TESTTOOL_CHILD") == "1" {
		_, err := Find("axon-no-such-tool", "install it")
		Missing(t, err)
		return
	}
	for _, c := range []struct {
		require string
		fail    bool
	}{{"1", true}, {"0", false}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingFailsWhenRequired$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTTOOL_CHILD=1", "AXON_REQUIRE_TOOLS="+c.require, "CI=")
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != c.fail || (!c.fail && !strings.Contains(string(out), "SKIP")) {
			t.Errorf("AXON_REQUIRE_TOOLS=%s: failed=%v, output:\n%s", c.require, failed, out)
		}
	}
}
