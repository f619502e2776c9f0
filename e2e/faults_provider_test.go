//go:build faults

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// providerFallback is the text a customer gets when the AI provider fails.
const providerFallback = "I'm having trouble right now. Please try again in a moment."

// TestFaultProvider runs the dashboard chat (in `serve`) and WhatsApp replies (in `work`)
// against an OpenAI fake that first fails twice with 500 (retried: a real answer), then
// hangs (every call waits longer than the provider timeout), then answers 500 to every
// call. The chat must answer 200 with the fallback text, never a 500 or a hang past the
// provider timeout; each WhatsApp message must get exactly one reply (the fallback when the
// provider is down), its job completed.
func TestFaultProvider(t *testing.T) {
	ai := fakeopenai.New(t)
	ai.SetChatReply("We ship to Canada within five days.")
	fake := fakeplatforms.New(t)
	env := mergeEnv(map[string]string{
		"DATABASE_URL": freshDB(t), "OPENAI_API_KEY": "sk-fault-provider", "OPENAI_BASE_URL": ai.URL(),
		"RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info",
	}, platformEnv(fake))
	s := serve(t, env)
	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	agent, path := waSetup(t, s.base, acct.access, fake)
	d := faultDB(t, env["DATABASE_URL"])
	wsID := call(t, "GET", s.base+"/v1/workspace", nil, auth).body["id"].(string)
	if err := billingtest.SetBalance(context.Background(), d, wsID, 100_000); err != nil {
		t.Fatal(err)
	}
	w := workProc(t, env)
	secret := fake.Creds().AppSecret
	client := &http.Client{Timeout: 3 * time.Minute}

	sent, stored, lost, dup := 0, 0, 0, 0
	var worst time.Duration
	// chat asks the dashboard chat; it must answer 200 (the fallback when wantFallback).
	chat := func(phase string, wantFallback bool) {
		t.Helper()
		start := time.Now()
		r := call(t, "POST", s.base+"/v1/agents/"+agent+"/chat", map[string]any{"message": "Do you ship to Canada? (" + phase + ")"}, auth)
		took := time.Since(start)
		worst = max(worst, took)
		msg, _ := r.body["message"].(map[string]any)
		content, _ := msg["content"].(string)
		t.Logf("%s: dashboard chat %d in %.1f s: %s %q", phase, r.status, took.Seconds(), msg["role"], content)
		sent++
		switch {
		case r.status != 200:
			t.Errorf("%s: dashboard chat %d %s", phase, r.status, r.raw)
			lost++
		case wantFallback && (msg["role"] != "SYSTEM" || content != providerFallback):
			t.Errorf("%s: dashboard chat answered %s, want the fallback", phase, r.raw)
			lost++
		case !wantFallback && content == providerFallback:
			t.Errorf("%s: dashboard chat answered the fallback; the provider's retries should have answered", phase)
			lost++
		default:
			stored++
		}
	}
	// whatsapp sends one message and waits for its one reply.
	whatsapp := func(phase, id string, wantFallback bool) {
		t.Helper()
		before := len(fake.Sent(fakeplatforms.WhatsApp))
		start := time.Now()
		if st, raw, err := postWA(client, s.base+path, waMessage(id, "16505553000", "Do you ship to Canada? ("+phase+")"), secret); err != nil || st != 200 {
			t.Fatalf("%s: webhook %d %v %s", phase, st, err, raw)
		}
		sent++
		eventually(t, phase+": the WhatsApp message processed", 3*time.Minute, func() bool {
			return dbCount(t, d, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1 AND external_id = $2 AND processed_at IS NOT NULL`, wsID, id) == 1 &&
				dbCount(t, d, `SELECT count(*) FROM river_job WHERE kind = 'channels.process_inbound' AND state <> 'completed'`) == 0
		})
		eventually(t, phase+": the reply sent", time.Minute, func() bool { return len(fake.Sent(fakeplatforms.WhatsApp)) > before })
		worst = max(worst, time.Since(start))
		time.Sleep(time.Second) // a second reply would be sent by now
		got := fake.Sent(fakeplatforms.WhatsApp)[before:]
		t.Logf("%s: WhatsApp reply after %.1f s: %q", phase, time.Since(start).Seconds(), got[0].Text)
		switch {
		case len(got) > 1:
			t.Errorf("%s: %d replies sent: %+v", phase, len(got), got)
			dup += len(got) - 1
		case wantFallback != (got[0].Text == providerFallback):
			t.Errorf("%s: reply %q (fallback wanted: %v)", phase, got[0].Text, wantFallback)
			lost++
		default:
			stored++
		}
	}

	// 1. Two 500s: the client retries, the customer gets the answer.
	ai.FailNext(2, 500, "")
	chat("two 500s", false)
	ai.FailNext(2, 500, "")
	whatsapp("two 500s", "wamid.PROV1", false)

	// 2. The provider hangs: the attempt times out, the customer gets the fallback.
	ai.SetDelay(10 * time.Minute)
	chat("hanging", true)
	whatsapp("hanging", "wamid.PROV2", true)
	ai.SetDelay(0)

	// 3. The provider answers 500 to everything.
	ai.FailNext(1_000_000, 500, "")
	chat("500 always", true)
	whatsapp("500 always", "wamid.PROV3", true)

	if strings.Contains(s.stderr.String(), `"statusCode":500`) || strings.Contains(s.stderr.String(), `"status":500`) {
		t.Errorf("serve answered a 500:\n%.3000s", s.stderr.String())
	}
	if n := dbCount(t, d, `SELECT count(*) FROM river_job WHERE kind LIKE 'channels.%' AND state NOT IN ('completed')`); n != 0 {
		t.Errorf("%d channels jobs not completed\nwork:\n%.3000s", n, w.stderr.String())
	}
	faultReport(t, "provider-hang-500", sent, stored, lost, dup, worst)
}
