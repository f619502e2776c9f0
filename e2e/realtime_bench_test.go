package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// BenchmarkEventFanOutTwoServers measures an event's trip between two `axon serve`
// processes: PATCH /v1/agents/:id (status) through replica 1, which publishes
// agent_status_changed in its transaction, until the SSE frame is read by a client of
// replica 2. The baseline, in the same run and for the same events, is a bare LISTEN
// connection in this process: PATCH until the notification arrives. The difference is
// replica 2's hub and SSE path. One event at a time.
//
//	go test -run '^$' -bench EventFanOutTwoServers -benchtime 300x ./e2e/
func BenchmarkEventFanOutTwoServers(b *testing.B) {
	env := map[string]string{"DATABASE_URL": pgtest.URL(b), "RATE_LIMIT_SCALE": "1000"}
	s1, s2 := serve(b, env), serve(b, env)
	acct := register(b, s1.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	r := call(b, "POST", s1.base+"/v1/agents", map[string]any{"name": "Bench", "systemPrompt": "x"}, auth)
	if r.status != 201 {
		b.Fatalf("create agent: %d %s", r.status, r.raw)
	}
	agentID, _ := r.body["id"].(string)
	status := r.body["status"].(string)

	ctx := context.Background()
	raw, err := pgx.Connect(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close(ctx)
	if _, err := raw.Exec(ctx, "LISTEN "+realtime.Channel); err != nil {
		b.Fatal(err)
	}
	rawAt := make(chan time.Time, 16)
	go func() {
		for {
			if _, err := raw.WaitForNotification(ctx); err != nil {
				return
			}
			rawAt <- time.Now()
		}
	}()
	stream := openEvents(b, s2.base, acct.access, "")

	var base, fan []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if status == "ACTIVE" {
			status = "INACTIVE"
		} else {
			status = "ACTIVE"
		}
		start := time.Now()
		r := call(b, "PATCH", s1.base+"/v1/agents/"+agentID, map[string]any{"status": status}, auth)
		if r.status != 200 {
			b.Fatalf("PATCH: %d %s", r.status, r.raw)
		}
		select {
		case at := <-rawAt:
			base = append(base, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no notification")
		}
		select {
		case f, ok := <-stream.frames:
			if !ok || f.data["status"] != status {
				b.Fatalf("frame %+v, want status %s", f, status)
			}
			fan = append(fan, time.Since(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no event on replica 2")
		}
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(base, 0.5), "listen-p50-ms")
	b.ReportMetric(pct(base, 0.99), "listen-p99-ms")
	b.ReportMetric(pct(fan, 0.5), "replica2-p50-ms")
	b.ReportMetric(pct(fan, 0.99), "replica2-p99-ms")
	extra := make([]time.Duration, len(fan))
	for i := range fan {
		extra[i] = fan[i] - base[i]
	}
	b.ReportMetric(pct(extra, 0.5), "extra-p50-ms")
	b.ReportMetric(pct(extra, 0.99), "extra-p99-ms")
	b.ReportMetric(0, "ns/op")
	stream.close()
	s1.terminate(b)
	s2.terminate(b)
}
