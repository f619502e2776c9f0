package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// TestAnalyticsBackfill runs `axon analytics backfill` through run, as main does, against
// the test database: one progress line per day, then a total; bad flags fail with a clear
// line and touch nothing.
func TestAnalyticsBackfill(t *testing.T) {
	t.Parallel()
	env := map[string]string{"APP_ENV": "test", "DATABASE_URL": pgtest.URL(t)}
	getenv := func(k string) string { return env[k] }
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"analytics", "backfill", "--from", "2023-12-30", "--to", "2024-01-02"}, getenv, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"[1/4] 2023-12-30  rows ", "[2/4] 2023-12-31  rows ", "[3/4] 2024-01-01  rows ", "[4/4] 2024-01-02  rows ", "backfilled 4 days, "}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"analytics", "backfill", "--from", "2024-01-02", "--to", "2024-01-01"}, "is after --to"},
		{[]string{"analytics", "backfill", "--from", "01/02/2024", "--to", "2024-01-01"}, "--from must be a date"},
		{[]string{"analytics", "backfill", "--from", "2024-01-01"}, `"to" not set`},
	} {
		if err := run(context.Background(), tc.args, getenv, &out, &errb); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.msg)
		}
	}
}
