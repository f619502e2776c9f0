package channels

import (
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// The message webhooks take their channel from a short per-replica cache
// (webhooks_service.go, webhookChannels). A change of the channel still takes effect on the
// next message: the insert re-checks the channel in its own statement, and a signature the
// cached secret refuses is checked against a fresh read.
func TestWebhookChannelCacheFollowsChanges(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	wa := he.channel(t, w, ag, "WHATSAPP")
	signed := func(msgID, secret string) (int, string) {
		body := waText(msgID, "16505551234", "hello")
		res := he.post(wa, body, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": fakeplatforms.SignMeta(body, secret)})
		return res.Status, string(res.Body)
	}
	expect := func(msgID, secret string, status int) {
		t.Helper()
		if got, body := signed(msgID, secret); got != status {
			t.Fatalf("%s: status %d, want %d (%s)", msgID, got, status, body)
		}
	}
	cached := func() bool {
		he.mod.hooks.mu.Lock()
		defer he.mod.hooks.mu.Unlock()
		return len(he.mod.hooks.m) == 1
	}
	putCreds := func(secret string, active bool) {
		t.Helper()
		creds := he.fake.ChannelCreds("WHATSAPP")
		creds["appSecret"] = secret
		if res := he.Do(reqPut("/v1/channels/WHATSAPP", w.Token, map[string]any{"isActive": active, "credentials": creds})); res.Status != 200 {
			t.Fatalf("PUT channel: %d %s", res.Status, res.Body)
		}
	}
	s1 := he.fake.Creds().AppSecret

	expect("wamid.1", s1, 200)
	if !cached() {
		t.Fatal("the channel was not cached")
	}
	// Unlinked from its agent: 404 at once.
	if res := he.Do(reqPut("/v1/agents/"+ag+"/channels/WHATSAPP", w.Token, map[string]any{"isActive": false})); res.Status != 200 {
		t.Fatalf("unlink: %d %s", res.Status, res.Body)
	}
	expect("wamid.2", s1, 404)
	if res := he.Do(reqPut("/v1/agents/"+ag+"/channels/WHATSAPP", w.Token, map[string]any{"isActive": true})); res.Status != 200 {
		t.Fatalf("relink: %d %s", res.Status, res.Body)
	}
	expect("wamid.2", s1, 200) // cached again with s1
	// A new app secret: a message signed with it is accepted although the cache holds s1.
	putCreds("second-app-secret", true)
	expect("wamid.3", "second-app-secret", 200)
	// The cache now holds the second secret; after a third, a message signed with the
	// second verifies against the cached channel but is refused by the insert's check,
	// then by the fresh read: 401.
	putCreds("third-app-secret", true)
	expect("wamid.4", "second-app-secret", 401)
	// Deactivated while cached: 404 at once.
	expect("wamid.5", "third-app-secret", 200)
	putCreds("third-app-secret", false)
	expect("wamid.6", "third-app-secret", 404)

	var ids []string
	if err := he.DB.Select(&ids, `SELECT external_id FROM channel_inbound WHERE workspace_id = $1 ORDER BY external_id`, w.ID); err != nil {
		t.Fatal(err)
	}
	if got := len(ids); got != 4 || ids[0] != "wamid.1" || ids[1] != "wamid.2" || ids[2] != "wamid.3" || ids[3] != "wamid.5" {
		t.Fatalf("stored %v, want wamid.1, .2, .3, .5", ids)
	}
	if n := he.count(t, `SELECT count(*) FROM river_job WHERE kind = 'channels.process_inbound' AND args->>'workspaceId' = $1`, w.ID); n != 4 {
		t.Fatalf("%d jobs, want 4", n)
	}
}

// What the cache bounds: a payload that stores nothing (a status callback) may be answered
// from a cached channel for channelCacheTTL after its deactivation, not longer.
func TestWebhookChannelCacheTTL(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	var mu sync.Mutex
	now := time.Now()
	he.mod.hooks.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	wa := he.channel(t, w, ag, "WHATSAPP")
	if res := he.signedWA(wa, waText("wamid.1", "16505551234", "hello")); res.Status != 200 {
		t.Fatalf("message: %d %s", res.Status, res.Body)
	}
	if res := he.Do(reqPut("/v1/channels/WHATSAPP", w.Token, map[string]any{"isActive": false})); res.Status != 200 {
		t.Fatalf("deactivate: %d %s", res.Status, res.Body)
	}
	statuses := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},"statuses":[{"id":"wamid.S","status":"delivered","timestamp":"1","recipient_id":"16505551234"}]}}]}]}`)
	mu.Lock()
	now = now.Add(channelCacheTTL - time.Millisecond)
	mu.Unlock()
	if res := he.signedWA(wa, statuses); res.Status != 200 {
		t.Fatalf("status callback within the TTL: %d %s", res.Status, res.Body)
	}
	mu.Lock()
	now = now.Add(time.Millisecond)
	mu.Unlock()
	he.signedWA(wa, statuses).ExpectError(t, 404, "NOT_FOUND")
	if n := he.count(t, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, w.ID); n != 1 {
		t.Fatalf("%d inbound rows, want 1", n)
	}
}
