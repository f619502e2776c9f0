package billing

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/testkit/testtool"
)

// stripe-mock (go install github.com/stripe/stripe-mock@v0.203.0) loads Stripe's whole
// OpenAPI description before it listens (2–8 s here), so TestMain starts it in the
// background while the other tests run. $STRIPE_MOCK_URL names one that is already running
// (a CI service). scripts/test-tools.sh installs it; without it TestAgainstStripeMock skips
// on a developer's machine and fails in CI or under `make test` (testtool.Required).
var mock struct {
	once sync.Once
	url  string
	skip error // not installed
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	go mock.once.Do(startStripeMock)
	code := m.Run()
	mock.once.Do(func() {})
	if mock.stop != nil {
		mock.stop()
	}
	os.Exit(code)
}

func startStripeMock() {
	if u := os.Getenv("STRIPE_MOCK_URL"); u != "" {
		mock.url = u
		return
	}
	bin, err := testtool.Find("stripe-mock", "go install github.com/stripe/stripe-mock@v0.203.0")
	if err != nil {
		mock.skip = err
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		mock.err = err
		return
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-http-addr", addr, "-https-addr", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		cancel()
		mock.err = err
		return
	}
	mock.stop = func() { cancel(); _ = cmd.Wait() }
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			mock.url = "http://" + addr
			return
		}
		if time.Now().After(deadline) {
			mock.err = err
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stripeMock(t *testing.T) string {
	t.Helper()
	mock.once.Do(startStripeMock)
	if mock.skip != nil {
		testtool.Missing(t, mock.skip)
	}
	if mock.err != nil {
		t.Fatalf("stripe-mock: %v", mock.err)
	}
	return mock.url
}

// The Stripe calls, validated by stripe-mock against Stripe's OpenAPI description.
func TestAgainstStripeMock(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{apiBase: stripeMock(t)})
	ws := te.NewWorkspace(plans.Starter, 0)
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/billing/checkout", map[string]any{"plan": "PRO"}},
		{"/v1/billing/topup", map[string]any{"pack": "50k"}},
		{"/v1/billing/portal", nil},
	} {
		r := te.Post(c.path, ws.Token, c.body)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Map(t)["url"].(string), "http") {
			t.Fatalf("%s: %d %s\nlogs: %s", c.path, r.Status, r.Body, te.LogText())
		}
	}
	if n := te.count(t, `SELECT count(*) FROM workspaces WHERE id = $1 AND stripe_customer_id LIKE 'cus_%'`, ws.ID); n != 1 {
		t.Fatal("customer id not stored")
	}
	r := te.Get("/v1/billing/invoices", ws.Token)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	r.JSON(t, &list)
	if r.Status != http.StatusOK || len(list.Items) == 0 || list.Items[0]["id"] == "" {
		t.Fatalf("invoices: %d %s", r.Status, r.Body)
	}
}
