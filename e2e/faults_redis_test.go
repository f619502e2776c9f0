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
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// TestFaultRedisStopped stops the (private) Redis of two `serve` replicas and a `work`
// while clients read (GET /v1/auth/me, rate limited through Redis) and WhatsApp delivers
// webhooks, then starts it again. Not one request may fail: the rate limiter falls back to
// a per-process one and the cache degrades. Every webhook is stored once and processed.
func TestFaultRedisStopped(t *testing.T) {
	rd := startRedis(t, testkit.FreePort(t))
	fake := fakeplatforms.New(t)
	env := mergeEnv(map[string]string{"DATABASE_URL": freshDB(t), "REDIS_URL": rd.url(), "RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info"}, platformEnv(fake))
	s1, s2 := serve(t, env), serve(t, env)
	bases := []string{s1.base, s2.base}
	acct := register(t, s1.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	_, path := waSetup(t, s1.base, acct.access, fake)
	d := faultDB(t, env["DATABASE_URL"])
	wsID := call(t, "GET", s1.base+"/v1/workspace", nil, auth).body["id"].(string)
	if err := billingtest.SetBalance(context.Background(), d, wsID, 100_000); err != nil {
		t.Fatal(err)
	}
	w := workProc(t, env)

	var (
		mu                sync.Mutex
		failed            []string
		requests, webhook atomic.Int64
		lastFail          time.Time
	)
	fail := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		lastFail = time.Now()
		if len(failed) < 20 {
			failed = append(failed, what)
		}
	}
	client := &http.Client{Timeout: 15 * time.Second}
	secret := fake.Creds().AppSecret
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() { // the platform; a failed delivery is a failure here, not redelivered
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(30 * time.Millisecond):
				}
				id := fmt.Sprintf("wamid.RD%d-%d", g, i)
				st, raw, err := postWA(client, bases[i%2]+path, waMessage(id, strconv.Itoa(16505552000+10*g+i%4), "Message "+id), secret)
				requests.Add(1)
				webhook.Add(1)
				if err != nil || st != 200 {
					fail(fmt.Sprintf("webhook %s: %d %v %.200s", id, st, err, raw))
				}
			}
		}()
		go func() { // a dashboard
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				req, _ := http.NewRequest(http.MethodGet, bases[i%2]+"/v1/auth/me", nil)
				req.Header.Set("Authorization", "Bearer "+acct.access)
				res, err := client.Do(req)
				requests.Add(1)
				if err != nil {
					fail("GET /v1/auth/me: " + err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					fail(fmt.Sprintf("GET /v1/auth/me: %d %.200s", res.StatusCode, b))
				}
			}
		}()
	}

	time.Sleep(2 * time.Second)
	down := time.Now()
	rd.stop()
	eventually(t, "health reports Redis down", 10*time.Second, func() bool {
		st, _ := health(t, s1.base)
		return st == 503
	})
	time.Sleep(4 * time.Second)
	startRedis(t, rd.port)
	up := time.Now()
	for _, b := range bases {
		eventually(t, "health 200 after Redis is back", 10*time.Second, func() bool {
			st, _ := health(t, b)
			return st == 200
		})
	}
	recovered := time.Since(up)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	for _, f := range failed {
		t.Error("failed: " + f)
	}
	t.Logf("%d requests (%d webhooks), %d failed; Redis down %.1f s; health back %.1f s after Redis", requests.Load(), webhook.Load(), len(failed),
		up.Sub(down).Seconds(), recovered.Seconds())
	if !lastFail.IsZero() {
		t.Logf("last failure %.1f s after Redis was stopped", lastFail.Sub(down).Seconds())
	}

	n := int(webhook.Load())
	rows := dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, wsID)
	distinct := dbCount(t, d, `SELECT count(DISTINCT external_id) FROM channel_inbound WHERE workspace_id = $1`, wsID)
	eventually(t, "work processes every inbound message", 2*time.Minute, func() bool {
		return dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1 AND processed_at IS NULL`, wsID) == 0
	})
	users := dbCount(t, d, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	userIDs := dbCount(t, d, `SELECT count(DISTINCT channel_msg_id) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	if users != distinct {
		t.Errorf("%d USER messages for %d stored webhooks\nwork:\n%.3000s", users, distinct, w.stderr.String())
	}
	faultReport(t, "redis-stopped", n, distinct, n-min(distinct, userIDs)+len(failed), (rows-distinct)+(users-userIDs), recovered)
}
