package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stream is govulncheck's JSON output in miniature: two OSV entries, one called through our
// code, one only imported.
const stream = `{"config": {"scanner_name": "govulncheck"}}
{"osv": {"id": "GO-2099-0001", "summary": "Crash in net/http"}}
{"osv": {"id": "GO-2099-0002", "summary": "Leak in x/text"}}
{"finding": {"osv": "GO-2099-0001", "fixed_version": "v1.26.99", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "Serve", "receiver": "*Server"}, {"module": "github.com/axonhq/axon", "package": "github.com/axonhq/axon/platform/web", "function": "Run", "position": {"filename": "platform/web/server.go", "line": 42}}]}}
{"finding": {"osv": "GO-2099-0002", "trace": [{"module": "golang.org/x/text", "version": "v0.1.0", "package": "golang.org/x/text/language"}]}}
`

func TestJudgeFailsOnACalledVulnerabilityNotAllowed(t *testing.T) {
	rep, err := parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := rep.judge(map[string]string{}, "v0", false, &out); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{"CALLED:     GO-2099-0001 stdlib@v1.26.8 (fixed: v1.26.99): Crash in net/http", "platform/web/server.go:42", "net/http.Server.Serve", "2 vulnerabilities found", "1 called", "1 of them not allowed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "GO-2099-0002") {
		t.Errorf("an imported-only vulnerability is listed without -v:\n%s", out.String())
	}
}

func TestJudgePassesWhenEveryCalledVulnerabilityIsAllowed(t *testing.T) {
	rep, err := parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	allow := map[string]string{"GO-2099-0001": "not reachable", "GO-2099-0009": "stale"}
	if code := rep.judge(allow, "v0", true, &out); code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out.String())
	}
	for _, want := range []string{"allowed:    GO-2099-0001", "why: not reachable", "not called: GO-2099-0002", "GO-2099-0009 is allowed in allow.txt but no longer called"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRefusesGarbage(t *testing.T) {
	if _, err := parse(strings.NewReader(`{"finding": [`)); err == nil {
		t.Fatal("a truncated stream parsed")
	}
}

func TestReadAllowNeedsAReason(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("# comment\n\nGO-1 because\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	allow, err := readAllow(good)
	if err != nil || allow["GO-1"] != "because" || len(allow) != 1 {
		t.Fatalf("%v %v", allow, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("GO-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readAllow(bad); err == nil {
		t.Fatal("an entry without a reason was accepted")
	}
}

func TestAllowFileParses(t *testing.T) {
	allow, err := readAllow("allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(allow) == 0 {
		t.Fatal("allow.txt is empty")
	}
}
