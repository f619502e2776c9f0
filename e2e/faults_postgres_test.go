//go:build faults

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// TestFaultPostgresRestart stops a private Postgres cluster (immediate shutdown, as a crash
// or a failover does) while `serve` answers reads (GET /v1/auth/me) and WhatsApp webhooks
// and `work` processes them, and starts it again 3 s later. During the outage requests must
// fail fast with 503 (never a 500, never a hang); within 10 s of Postgres being back both
// kinds of request succeed again; a webhook the platform redelivers until it is accepted is
// stored once, and `work` processes every one of them without a restart.
func TestFaultPostgresRestart(t *testing.T) {
	pg := startPrivatePG(t)
	fake := fakeplatforms.New(t)
	env := mergeEnv(map[string]string{"DATABASE_URL": pg.url("axon"), "RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info"}, platformEnv(fake))
	if r := axon(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
	}
	s := serve(t, env)
	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	_, path := waSetup(t, s.base, acct.access, fake)
	d := faultDB(t, env["DATABASE_URL"])
	wsID := call(t, "GET", s.base+"/v1/workspace", nil, auth).body["id"].(string)
	if err := billingtest.SetBalance(context.Background(), d, wsID, 100_000); err != nil {
		t.Fatal(err)
	}
	w := workProc(t, env)

	type sample struct {
		at     time.Time
		took   time.Duration
		status int // 0: transport error
		write  bool
	}
	var (
		mu      sync.Mutex
		samples []sample
		sent    atomic.Int64
		bad     []string
	)
	record := func(start time.Time, status int, write bool, what string) {
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, sample{at: start, took: time.Since(start), status: status, write: write})
		if status != 200 && status != 503 && len(bad) < 10 {
			bad = append(bad, what)
		}
	}
	client := &http.Client{Timeout: 15 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	secret := fake.Creds().AppSecret
	for g := range 4 {
		wg.Add(1)
		go func() { // the platform: one message at a time, redelivered until accepted
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("wamid.PG%d-%d", g, i)
				body := waMessage(id, strconv.Itoa(16505551000+10*g+i%4), "Message "+id)
				sent.Add(1)
				for {
					start := time.Now()
					st, raw, err := postWA(client, s.base+path, body, secret)
					record(start, st, true, fmt.Sprintf("webhook %s: %d %v %.200s", id, st, err, raw))
					if st == 200 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		wg.Add(1)
		go func() { // a dashboard: reads
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				start := time.Now()
				req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/auth/me", nil)
				req.Header.Set("Authorization", "Bearer "+acct.access)
				res, err := client.Do(req)
				st, raw := 0, ""
				if err == nil {
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					st, raw = res.StatusCode, string(b)
				}
				record(start, st, false, fmt.Sprintf("GET /v1/auth/me: %d %v %.200s", st, err, raw))
			}
		}()
	}

	time.Sleep(2 * time.Second)
	down := time.Now()
	if err := pg.ctl("stop", "-m", "immediate"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := pg.ctl("start"); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	t.Logf("Postgres down for %.1f s", up.Sub(down).Seconds())
	time.Sleep(12 * time.Second)
	close(stop)
	wg.Wait()

	// Outage answers and recovery.
	var outage, outage503, slowest int
	var slowestTook time.Duration
	var readOK, writeOK time.Time
	for _, sm := range samples {
		if sm.at.After(down) && sm.at.Before(up) {
			outage++
			if sm.status == 503 {
				outage503++
			}
			if sm.took > slowestTook {
				slowestTook, slowest = sm.took, sm.status
			}
		}
		if sm.at.After(up) && sm.status == 200 {
			if sm.write && writeOK.IsZero() {
				writeOK = sm.at.Add(sm.took)
			}
			if !sm.write && readOK.IsZero() {
				readOK = sm.at.Add(sm.took)
			}
		}
	}
	for _, b := range bad {
		t.Error("neither 200 nor 503: " + b)
	}
	// Requests sent between pg_ctl stop and the moment Postgres really stopped, or after it
	// accepted connections again, are answered 200; every other one must be a quick 503.
	t.Logf("%d requests while Postgres was (being) stopped, %d answered 503; slowest %.2f s (%d)", outage, outage503, slowestTook.Seconds(), slowest)
	if outage503 == 0 {
		t.Errorf("no 503 during the outage")
	}
	if readOK.IsZero() || writeOK.IsZero() {
		t.Fatalf("no successful read (%v) or write (%v) after Postgres came back\nserve:\n%.3000s", readOK, writeOK, s.stderr.String())
	}
	recovery := max(readOK.Sub(up), writeOK.Sub(up))
	if recovery > 10*time.Second {
		t.Errorf("recovery took %.1f s, want at most 10 s", recovery.Seconds())
	}
	// After the recovery everything succeeds.
	var after, afterOK int
	for _, sm := range samples {
		if sm.at.After(up.Add(recovery)) {
			after++
			if sm.status == 200 {
				afterOK++
			}
		}
	}
	if afterOK != after {
		t.Errorf("%d of %d requests after the recovery failed", after-afterOK, after)
	}

	n := int(sent.Load())
	rows := dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, wsID)
	distinct := dbCount(t, d, `SELECT count(DISTINCT external_id) FROM channel_inbound WHERE workspace_id = $1`, wsID)
	eventually(t, "work processes every inbound message after the restart", 2*time.Minute, func() bool {
		return dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1 AND processed_at IS NULL`, wsID) == 0
	})
	users := dbCount(t, d, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	userIDs := dbCount(t, d, `SELECT count(DISTINCT channel_msg_id) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	if users != distinct {
		t.Errorf("%d USER messages for %d stored webhooks\nwork:\n%.3000s", users, distinct, w.stderr.String())
	}
	faultReport(t, "postgres-restart", n, distinct, n-min(distinct, userIDs), (rows-distinct)+(users-userIDs), recovery)
}
