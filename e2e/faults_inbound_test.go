//go:build faults

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// TestFaultWorkKilledMidInboundBatch is issue 10's acceptance check through the real
// binaries: 200 signed WhatsApp messages (200 customers) are accepted by `serve`; `work`
// is SIGKILLed while it is answering them; a second `work` finishes the batch. Every message
// is answered exactly once in the database and reaches WhatsApp (the fake) at least once
// (twice only for a send caught between the platform's answer and its recorded outcome).
// Jobs the dead worker held are taken back once its heartbeat is 40 s old (queue.rescue
// runs every 30 s; platform/queue/heartbeat.go), and the conversation leases it held lapse
// within 30 s (a live answer renews its lease), so this takes about a minute.
func TestFaultWorkKilledMidInboundBatch(t *testing.T) {
	ctx := context.Background()
	fake := fakeplatforms.New(t)
	env := map[string]string{
		"DATABASE_URL":           pgtest.URL(t),
		"CHANNEL_ENCRYPTION_KEY": strings.Repeat("ab", 32),
		"WHATSAPP_API_BASE":      fake.GraphBase(),
	}
	s := serve(t, env)
	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	db := pgtest.DB(t)
	var ws string
	if err := db.GetContext(ctx, &ws, `SELECT m.workspace_id FROM workspace_members m JOIN users u ON u.id = m.user_id WHERE u.email = $1`, acct.email); err != nil {
		t.Fatal(err)
	}
	if err := billingtest.SetBalance(ctx, db, ws, 10_000); err != nil {
		t.Fatal(err)
	}
	r := call(t, "POST", s.base+"/v1/agents", map[string]any{"name": "Shop", "systemPrompt": "You help the shop's customers."}, auth)
	agent, _ := r.body["id"].(string)
	if r.status != 201 {
		t.Fatalf("agent: %d %s", r.status, r.raw)
	}
	if r := call(t, "PUT", s.base+"/v1/channels/WHATSAPP", map[string]any{"isActive": true, "credentials": fake.ChannelCreds("WHATSAPP")}, auth); r.status != 200 {
		t.Fatalf("channel: %d %s", r.status, r.raw)
	}
	r = call(t, "PUT", s.base+"/v1/agents/"+agent+"/channels/WHATSAPP", map[string]any{"isActive": true}, auth)
	hook, _ := r.body["webhookUrl"].(string)
	if r.status != 200 || hook == "" {
		t.Fatalf("link: %d %s", r.status, r.raw)
	}
	_, path, _ := strings.Cut(strings.TrimPrefix(hook, "http://"), "/")

	const n = 200
	secret := fake.Creds().AppSecret
	for i := range n {
		from := fmt.Sprintf("1555%07d", i)
		body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},"contacts":[{"profile":{"name":"C%d"},"wa_id":%q}],"messages":[{"from":%q,"id":"wamid.%d","timestamp":"1","type":"text","text":{"body":"Hello, what are your opening hours? (%d)"}}]}}]}]}`, i, from, from, i, i)
		r := call(t, "POST", s.base+"/"+path, string(body), map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": fakeplatforms.SignMeta(body, secret)})
		if r.status != 200 || r.body["accepted"] != float64(1) {
			t.Fatalf("message %d: %d %s", i, r.status, r.raw)
		}
	}

	count := func(q string) int {
		var c int
		if err := db.GetContext(ctx, &c, q, ws); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const qReplies = `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role <> 'USER'`
	workEnv := map[string]string{"PORT": strconv.Itoa(testkit.FreePort(t)), "LOG_LEVEL": "info"}
	for k, v := range env {
		workEnv[k] = v
	}
	w1 := start(t, workEnv, "work")
	eventually(t, "the first replies", 60*time.Second, func() bool { return count(qReplies) >= n/4 })
	if err := w1.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-w1.done
	atKill, sentAtKill := count(qReplies), len(fake.Sent(fakeplatforms.WhatsApp))
	t.Logf("SIGKILL with %d replies stored and %d delivered", atKill, sentAtKill)
	if atKill >= n {
		t.Fatalf("the batch finished before the kill (%d replies): nothing was interrupted", atKill)
	}

	started := time.Now()
	w2 := start(t, workEnv, "work")
	eventually(t, "every reply stored and sent", 5*time.Minute, func() bool {
		return count(`SELECT count(*) FROM messages WHERE workspace_id = $1 AND role <> 'USER' AND delivery_status = 'SENT'`) >= n &&
			count(`SELECT count(*) FROM channel_inbound WHERE workspace_id = $1 AND processed_at IS NOT NULL`) == n
	})
	t.Logf("the second worker finished the batch %s after it started", time.Since(started).Round(time.Second))
	_ = w2

	if got := count(`SELECT count(*) FROM messages WHERE workspace_id = $1 AND role = 'USER'`); got != n {
		t.Errorf("customer messages stored = %d, want %d", got, n)
	}
	if got := count(qReplies); got != n {
		t.Errorf("replies stored = %d, want %d", got, n)
	}
	if got := count(`SELECT count(*) FROM (SELECT conversation_id FROM messages WHERE workspace_id = $1 AND role <> 'USER' GROUP BY conversation_id HAVING count(*) <> 1) x`); got != 0 {
		t.Errorf("%d conversations without exactly one reply", got)
	}
	perRecipient := map[string]int{}
	for _, m := range fake.Sent(fakeplatforms.WhatsApp) {
		perRecipient[m.To]++
	}
	dup := 0
	for _, c := range perRecipient {
		dup += c - 1
	}
	t.Logf("FAULT work SIGKILL mid-inbound: sent %d, replies stored %d, reached WhatsApp %d customers, lost %d, duplicated at the platform %d",
		n, count(qReplies), len(perRecipient), n-len(perRecipient), dup)
	if len(perRecipient) != n {
		t.Errorf("%d customers never got their reply", n-len(perRecipient))
	}
	// Delivery to a platform without idempotency keys is at-least-once: a send the dead
	// worker made between WhatsApp's answer and writing its COMMIT is made again after the
	// rescue. That window is a few microseconds per send (deliver.go), so a duplicate is
	// rare, and at most the outbound queue's concurrency (5 sends in flight) can happen.
	if dup > 5 {
		t.Errorf("%d replies reached WhatsApp twice: more than the 5 sends that can be in flight at the kill", dup)
	}
}
