package channels

import (
	"net/http"
	"testing"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

// The conversation routes: filters, keyset pagination, bad input, roles and tenancy.
func TestConversationRoutes(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	w := ce.NewWorkspace("PRO", 100)
	member := ce.AddMember(w, "MEMBER")
	other := ce.NewWorkspace("STARTER", 100)
	agA := ce.agent(t, w, nil)
	agB := ce.agent(t, w, map[string]any{"name": "Sales"})
	otherAgent := ce.agent(t, other, nil)

	var convA []string
	for _, c := range []string{"c1", "c2", "c3"} {
		convA = append(convA, ce.respond(t, webIn(w.ID, agA, c, "hello from "+c)).ConversationID)
	}
	sms := webIn(w.ID, agB, "+15550002222", "sms hello")
	sms.ChannelType = "SMS"
	convB := ce.respond(t, sms).ConversationID
	otherConv := ce.respond(t, webIn(other.ID, otherAgent, "x", "other tenant")).ConversationID

	list := func(q string) (ids []string, next any) {
		t.Helper()
		res := ce.Get("/v1/conversations"+q, member.Token)
		if res.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", q, res.Status, res.Body)
		}
		m := res.Map(t)
		for _, it := range m["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		return ids, m["nextCursor"]
	}

	ids, _ := list("")
	if len(ids) != 4 || ids[0] != convB || ids[3] != convA[0] {
		t.Fatalf("list = %v (want newest activity first, 4 items, none of the other workspace)", ids)
	}
	if ids, _ := list("?agentId=" + agB); len(ids) != 1 || ids[0] != convB {
		t.Fatalf("agentId filter = %v", ids)
	}
	if ids, _ := list("?channelType=SMS"); len(ids) != 1 || ids[0] != convB {
		t.Fatalf("channelType filter = %v", ids)
	}
	if ids, _ := list("?status=HANDED_OFF"); len(ids) != 0 {
		t.Fatalf("status filter = %v", ids)
	}
	if ids, _ := list("?from=2000-01-01&to=2001-01-01"); len(ids) != 0 {
		t.Fatalf("date filter = %v", ids)
	}
	// Keyset pages of 2 walk the whole list without repeats.
	p1, next := list("?limit=2")
	p2, next2 := list("?limit=2&cursor=" + next.(string))
	if len(p1) != 2 || len(p2) != 2 || next2 != nil || p1[1] == p2[0] || p2[1] != convA[0] {
		t.Fatalf("pages %v %v next2 %v", p1, p2, next2)
	}

	for name, q := range map[string]string{
		"bad cursor":  "?cursor=bm90LWEtY3Vyc29y",
		"junk cursor": "?cursor=!!!",
		"bad status":  "?status=SLEEPING",
		"bad channel": "?channelType=FAX",
		"bad agent":   "?agentId=nope",
		"bad from":    "?from=yesterday",
		"limit":       "?limit=1000",
	} {
		t.Run(name, func(t *testing.T) {
			ce.Get("/v1/conversations"+q, w.Token).ExpectError(t, http.StatusBadRequest, "VALIDATION_ERROR")
		})
	}

	// GET one: the conversation and its messages oldest first, paginated.
	res := ce.Get("/v1/conversations/"+convA[0]+"?limit=1", member.Token)
	if res.Status != http.StatusOK {
		t.Fatalf("get: %d %s", res.Status, res.Body)
	}
	m := res.Map(t)
	msgs := m["messages"].([]any)
	if m["conversation"].(map[string]any)["id"] != convA[0] || len(msgs) != 1 || msgs[0].(map[string]any)["role"] != "USER" || m["nextCursor"] == nil {
		t.Fatalf("get body = %s", res.Body)
	}
	res = ce.Get("/v1/conversations/"+convA[0]+"?cursor="+m["nextCursor"].(string), member.Token)
	if msgs := res.Map(t)["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["role"] != "ASSISTANT" ||
		len(msgs[0].(map[string]any)["sources"].([]any)) != 1 {
		t.Fatalf("second page = %s", res.Body)
	}

	// PATCH: RESOLVED stamps resolvedAt; tags and metadata; bad input.
	res = ce.Do(reqPatch("/v1/conversations/"+convA[1], member.Token, map[string]any{"status": "RESOLVED", "tags": []string{"billing"}, "metadata": map[string]any{"priority": "high"}}))
	cm := res.Map(t)
	if res.Status != 200 || cm["status"] != "RESOLVED" || cm["resolvedAt"] == nil || cm["tags"].([]any)[0] != "billing" || cm["metadata"].(map[string]any)["priority"] != "high" {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	if ce.count(t, `SELECT count(*) FROM realtime_events WHERE conversation_id = $1 AND type = 'conversation_status_changed'`, convA[1]) != 1 {
		t.Fatal("no conversation_status_changed")
	}
	ce.Do(reqPatch("/v1/conversations/"+convA[1], w.Token, map[string]any{"status": "DONE"})).ExpectError(t, 400, "VALIDATION_ERROR")
	ce.Do(reqPatch("/v1/conversations/"+convA[1], w.Token, map[string]any{"metadata": []int{1}})).ExpectError(t, 400, "VALIDATION_ERROR")
	ce.Post("/v1/conversations/"+convA[1]+"/messages", w.Token, map[string]any{"content": "   "}).ExpectError(t, 400, "VALIDATION_ERROR")
	ce.Post("/v1/conversations/"+convA[1]+"/handoff", w.Token, map[string]any{"destination": "PIGEON"}).ExpectError(t, 400, "VALIDATION_ERROR")

	// Manual handoff and its resolve.
	res = ce.Post("/v1/conversations/"+convA[2]+"/handoff", member.Token, map[string]any{"destination": "LIVE_AGENT"})
	if res.Status != http.StatusCreated {
		t.Fatalf("manual handoff: %d %s", res.Status, res.Body)
	}
	h := res.Map(t)
	if h["trigger"] != "POLICY_RULE" || h["destination"] != "LIVE_AGENT" {
		t.Fatalf("handoff = %s", res.Body)
	}
	if st := ce.str(t, `SELECT status FROM conversations WHERE id = $1`, convA[2]); st != StatusHandedOff {
		t.Fatalf("status = %s", st)
	}
	res = ce.Get("/v1/conversations/"+convA[2]+"/handoffs", member.Token)
	if items := res.Map(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("handoffs = %s", res.Body)
	}
	res = ce.Do(reqPatch("/v1/handoffs/"+h["id"].(string), member.Token, map[string]any{"resolved": true, "learningNote": "Add refund policy doc"}))
	if hm := res.Map(t); res.Status != 200 || hm["resolvedAt"] == nil || hm["learningNote"] != "Add refund policy doc" {
		t.Fatalf("resolve: %d %s", res.Status, res.Body)
	}
	ce.Do(reqPatch("/v1/handoffs/"+h["id"].(string), member.Token, map[string]any{"resolved": false})).ExpectError(t, 400, "VALIDATION_ERROR")

	// Another workspace's ids are 404 on every :id route, and nothing changes.
	otherH := ce.Post("/v1/conversations/"+otherConv+"/handoff", other.Token, nil).Map(t)["id"].(string)
	for _, r := range []apitest.Req{
		{Method: http.MethodGet, Path: "/v1/conversations/" + otherConv},
		{Method: http.MethodPatch, Path: "/v1/conversations/" + otherConv, Body: map[string]any{"status": "RESOLVED"}},
		{Method: http.MethodPost, Path: "/v1/conversations/" + otherConv + "/messages", Body: map[string]any{"content": "hi"}},
		{Method: http.MethodPost, Path: "/v1/conversations/" + otherConv + "/handoff", Body: map[string]any{}},
		{Method: http.MethodGet, Path: "/v1/conversations/" + otherConv + "/handoffs"},
		{Method: http.MethodPatch, Path: "/v1/handoffs/" + otherH, Body: map[string]any{"resolved": true}},
		{Method: http.MethodGet, Path: "/v1/conversations/not-a-uuid"},
	} {
		r.Token = w.Token
		ce.Do(r).ExpectError(t, http.StatusNotFound, "NOT_FOUND")
	}
	if n := ce.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1`, otherConv); n != 3 {
		t.Fatalf("other workspace's conversation has %d messages", n)
	}
	if ce.str(t, `SELECT resolved_at::text FROM handoffs WHERE id = $1`, otherH) != "" {
		t.Fatal("other workspace's handoff resolved")
	}
	// No token: 401.
	ce.Get("/v1/conversations", "").ExpectError(t, http.StatusUnauthorized, "MISSING_TOKEN")
}
