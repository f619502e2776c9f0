package realtime_test

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/web"
)

// BenchmarkFanOut measures one event's trip from the publishing transaction to an SSE client
// of another hub (two hubs in this process, each with its own LISTEN connection, each with a
// client of the workspace), against the baseline of the same event reaching a bare pgx
// LISTEN connection: publish (INSERT + pg_notify + COMMIT) → notification. Both clocks start
// before the publishing transaction begins and stop when the notification or SSE frame is
// read, so the difference is the hub's own cost (parse, row read when the event was too large
// to travel whole, queueing, SSE write, HTTP). Events are published one at a time.
//
//	go test -run '^$' -bench FanOut -benchtime 400x ./platform/realtime/
func BenchmarkFanOut(b *testing.B) {
	for _, bc := range []struct {
		name    string
		content int
	}{{"inline_200B", 200}, {"fetched_20KB", 20000}} {
		b.Run(bc.name, func(b *testing.B) { benchFanOut(b, bc.content) })
	}
}

func benchFanOut(b *testing.B, size int) {
	db := pgtest.DB(b)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	iss, err := authn.NewIssuer("realtime-bench-secret-0123456789-abcdefghij", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ws := uuid.NewString()
	tok, _ := iss.Issue(authn.Principal{UserID: uuid.NewString(), WorkspaceID: ws, Role: authn.RoleMember})

	type arrival struct {
		id int64
		at time.Time
	}
	// Two replicas: a hub and an SSE client each; the measured client is on replica 2.
	var clientB chan arrival
	for i := 0; i < 2; i++ {
		hub := realtime.NewHub(realtime.HubOptions{DB: db, URL: pgtest.URL(b), Log: log})
		if err := hub.Start(ctx); err != nil {
			b.Fatal(err)
		}
		e := web.New(web.Options{Logger: log})
		e.GET("/v1/events", hub.Handler(nil), authn.Middleware(iss, true))
		srv := httptest.NewServer(e)
		cctx, cancel := context.WithCancel(ctx)
		b.Cleanup(func() { cancel(); hub.Close(); srv.Close() })
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, srv.URL+"/v1/events?access_token="+tok, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("stream: %v", err)
		}
		arrivals := make(chan arrival, 1024)
		go func() {
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<20), 4<<20)
			var id int64
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "id: "); ok {
					id, _ = strconv.ParseInt(v, 10, 64)
				} else if strings.HasPrefix(line, "data: ") {
					arrivals <- arrival{id, time.Now()}
				}
			}
		}()
		if i == 1 {
			clientB = arrivals
		} else {
			go func() {
				for range arrivals {
				}
			}()
		}
		for hub.Stats().Subscribers != 1 {
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The baseline listener.
	raw, err := pgx.Connect(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = raw.Close(context.Background()) })
	if _, err := raw.Exec(ctx, "LISTEN "+realtime.Channel); err != nil {
		b.Fatal(err)
	}
	rawArrivals := make(chan arrival, 1024)
	go func() {
		for {
			n, err := raw.WaitForNotification(ctx)
			if err != nil {
				return
			}
			at := time.Now()
			if p, err := realtime.ParseNotification(n.Payload); err == nil {
				rawArrivals <- arrival{p.ID, at}
			}
		}
	}()

	content := strings.Repeat("a", size)
	var base, fan []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var id int64
		start := time.Now()
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			if err := (realtime.PG{}).Publish(ctx, tx, realtime.Event{WorkspaceID: ws, Type: realtime.TypeNewMessage, Payload: map[string]any{"i": i, "content": content}}); err != nil {
				return err
			}
			return tx.Get(&id, `SELECT currval(pg_get_serial_sequence('realtime_events', 'id'))`)
		})
		if err != nil {
			b.Fatal(err)
		}
		for got := false; !got; {
			select {
			case a := <-rawArrivals:
				if a.id == id {
					base = append(base, a.at.Sub(start))
					got = true
				}
			case <-time.After(10 * time.Second):
				b.Fatal("the baseline listener got nothing")
			}
		}
		for got := false; !got; {
			select {
			case a := <-clientB:
				if a.id == id {
					fan = append(fan, a.at.Sub(start))
					got = true
				}
			case <-time.After(10 * time.Second):
				b.Fatal("the client of the other hub got nothing")
			}
		}
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(base, 0.50), "base-p50-ms")
	b.ReportMetric(pct(base, 0.99), "base-p99-ms")
	b.ReportMetric(pct(fan, 0.50), "fanout-p50-ms")
	b.ReportMetric(pct(fan, 0.99), "fanout-p99-ms")
	over := make([]time.Duration, len(fan))
	for i := range fan {
		over[i] = fan[i] - base[i]
	}
	b.ReportMetric(pct(over, 0.50), "hub-extra-p50-ms")
	b.ReportMetric(pct(over, 0.99), "hub-extra-p99-ms")
	b.ReportMetric(0, "ns/op") // latency, not throughput, is the result
}
