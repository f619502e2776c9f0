//go:build faults

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// TestFaultServeKilledDuringWebhooks SIGKILLs one of two `serve` replicas while WhatsApp
// delivers signed webhooks to both (round robin). Like the platform, a sender whose
// delivery failed (connection refused or reset, no answer, 5xx) delivers it again, to the
// other replica. Every message the platform sent must be stored once (channel_inbound and
// one USER message) and answered at most once by `work`: a delivery the dead replica had stored
// before it died comes back as a redelivery, which is a no-op.
func TestFaultServeKilledDuringWebhooks(t *testing.T) {
	fake := fakeplatforms.New(t)
	env := mergeEnv(map[string]string{"DATABASE_URL": freshDB(t), "RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info"}, platformEnv(fake))
	s1, s2 := serve(t, env), serve(t, env)
	acct := register(t, s1.base)
	_, path := waSetup(t, s1.base, acct.access, fake)
	d := faultDB(t, env["DATABASE_URL"])
	wsID := call(t, "GET", s1.base+"/v1/workspace", nil, map[string]string{"Authorization": "Bearer " + acct.access}).body["id"].(string)
	if err := billingtest.SetBalance(context.Background(), d, wsID, 100_000); err != nil {
		t.Fatal(err)
	}
	w := workProc(t, env)

	const n, senders, customers = 400, 8, 40
	secret := fake.Creds().AppSecret
	bases := []string{s1.base, s2.base}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var (
		sent, redelivered atomic.Int64
		inFlight          atomic.Int64 // failed after the connection was made: in flight at the kill
		mu                sync.Mutex
		worstGap          time.Duration // longest time from a failed delivery to the accepted one
		failures          []string
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := waMessage("wamid.FAULT"+strconv.Itoa(i), strconv.Itoa(16505550000+i%customers), fmt.Sprintf("Question %d: do you ship to Canada?", i))
				var firstFail time.Time
				for try := 0; ; try++ {
					st, raw, err := postWA(client, bases[(i+try)%2]+path, body, secret)
					if err == nil && st == 200 {
						if !firstFail.IsZero() {
							mu.Lock()
							worstGap = max(worstGap, time.Since(firstFail))
							mu.Unlock()
						}
						break
					}
					if err == nil && st < 500 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("message %d: %d %s", i, st, raw))
						mu.Unlock()
						break // a 4xx is not redelivered: it counts as lost below
					}
					if firstFail.IsZero() {
						firstFail = time.Now()
					}
					var op *net.OpError
					if err != nil && (!errors.As(err, &op) || op.Op != "dial") {
						inFlight.Add(1)
					}
					redelivered.Add(1)
					if try > 20 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("message %d: given up: %d %v", i, st, err))
						mu.Unlock()
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				sent.Add(1)
			}
		}()
	}
	for i := range n {
		if i == n/3 {
			sigkill(t, s2.proc)
			t.Logf("killed replica 2 after %d messages", sent.Load())
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	inbound := func() (rows, distinct int) {
		return dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, wsID),
			dbCount(t, d, `SELECT count(DISTINCT external_id) FROM channel_inbound WHERE workspace_id = $1 AND external_id LIKE 'wamid.FAULT%'`, wsID)
	}
	rows, distinct := inbound()
	eventually(t, "every inbound message processed by work", 2*time.Minute, func() bool {
		return dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1 AND processed_at IS NULL`, wsID) == 0
	})
	users := dbCount(t, d, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	userIDs := dbCount(t, d, `SELECT count(DISTINCT channel_msg_id) FROM messages WHERE workspace_id = $1 AND role = 'USER'`, wsID)
	replies := dbCount(t, d, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role IN ('ASSISTANT', 'SYSTEM')`, wsID)
	eventually(t, "every reply delivered to WhatsApp", time.Minute, func() bool {
		return len(fake.Sent(fakeplatforms.WhatsApp)) >= replies &&
			dbCount(t, d, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role IN ('ASSISTANT', 'SYSTEM') AND delivery_status <> 'SENT'`, wsID) == 0
	})
	delivered := len(fake.Sent(fakeplatforms.WhatsApp))
	t.Logf("%d deliveries repeated after a failure (%d were in flight at the kill); %d stored, %d USER messages, %d replies (%d sent to WhatsApp)",
		redelivered.Load(), inFlight.Load(), distinct, users, replies, delivered)
	// The offline responder hands a conversation off when it has no knowledge to answer
	// from; the AI is silent afterwards, so there is at most one reply per message, and
	// every stored reply reaches WhatsApp once.
	if replies == 0 || replies > n || delivered != replies {
		t.Errorf("replies %d, sent to WhatsApp %d; want 1..%d, each sent once\nwork:\n%.4000s", replies, delivered, n, w.stderr.String())
	}
	lost := n - min(distinct, userIDs)
	dup := (rows - distinct) + (users - userIDs) + max(0, replies-n) + max(0, delivered-replies)
	faultReport(t, "serve-sigkill-webhooks", n, distinct, lost, dup, worstGap)
}
