package analytics

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

func TestRollupDayIdempotentAndNullsNotDistinct(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	w := h.workspace()
	a1, a2 := h.agent(w.ID), h.agent(w.ID)
	if a1 > a2 {
		a1, a2 = a2, a1 // rows come back ordered by agent id
	}
	res := at("2024-03-10T12:00:00Z")
	c1 := h.conv(w.ID, a1, at("2024-03-10T09:00:00Z"), nil, &res)
	h.msg(c1, "USER", "hi", at("2024-03-10T09:00:00Z"), 0)
	h.msg(c1, "ASSISTANT", "hello", at("2024-03-10T09:00:05Z"), 100)
	h.msg(c1, "USER", "a human please", at("2024-03-10T10:00:00Z"), 0)
	h.msg(c1, "ASSISTANT", "ok", at("2024-03-10T10:00:01Z"), 300)
	h.handoff(c1, "LOW_CONFIDENCE", at("2024-03-10T10:01:00Z"))
	h.msg(c1, "USER", "next day", at("2024-03-11T00:00:00Z"), 0) // the next day: not counted
	c2 := h.conv(w.ID, a2, at("2024-03-09T23:00:00Z"), nil, nil)
	h.msg(c2, "USER", "late", at("2024-03-09T23:00:00Z"), 0) // the day before
	h.msg(c2, "USER", "morning", at("2024-03-10T08:00:00Z"), 0)
	h.msg(c2, "ASSISTANT", "answer", at("2024-03-10T08:00:01Z"), 200)

	want := []rollupRow{
		{TotalMessages: 6, TotalConversations: 2, Handoffs: 1, Resolved: 1, AvgLatencyMs: 200, P95LatencyMs: 290},
		{AgentID: &a1, TotalMessages: 4, TotalConversations: 1, Handoffs: 1, Resolved: 1, AvgLatencyMs: 200, P95LatencyMs: 290},
		{AgentID: &a2, TotalMessages: 2, TotalConversations: 1, AvgLatencyMs: 200, P95LatencyMs: 200},
	}
	for run := 1; run <= 2; run++ {
		if _, err := h.mod.Service().RollupDay(ctx, day("2024-03-10")); err != nil {
			t.Fatal(err)
		}
		if got := h.rollups(w.ID, "2024-03-10"); !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: rollups\n got %s\nwant %s", run, dump(got), dump(want))
		}
	}
	// The workspace row (agent_id NULL) is one row however often the day is rolled up: the
	// upsert's key is NULLS NOT DISTINCT.
	var n int
	if err := h.DB.Get(&n, `SELECT count(*) FROM analytics_rollups WHERE workspace_id = $1 AND agent_id IS NULL`, w.ID); err != nil || n != 1 {
		t.Fatalf("workspace rows = %d (%v), want 1", n, err)
	}

	// Activity gone (messages deleted): a re-run converges, the agent's row is removed.
	h.exec(`DELETE FROM messages WHERE conversation_id = $1`, c2.id)
	r, err := h.mod.Service().RollupDay(ctx, day("2024-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Deleted < 1 {
		t.Errorf("deleted = %d, want ≥ 1", r.Deleted)
	}
	got := h.rollups(w.ID, "2024-03-10")
	if len(got) != 2 || got[0].TotalMessages != 4 || got[0].TotalConversations != 1 || got[0].P95LatencyMs != 290 {
		t.Fatalf("after deletion: %s", dump(got))
	}
}

func TestRollupCreditsOnWorkspaceRowOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.workspace()
	a := h.agent(w.ID)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	c := h.conv(w.ID, a, today.Add(time.Minute), nil, nil)
	h.msg(c, "ASSISTANT", "x", today.Add(time.Minute), 50)
	h.consume(w.ID, 3, "t1:"+w.ID)
	h.consume(w.ID, 2, "t2:"+w.ID)
	if _, err := h.mod.Service().RollupDay(context.Background(), today); err != nil {
		t.Fatal(err)
	}
	got := h.rollups(w.ID, today.Format(time.DateOnly))
	if len(got) != 2 || got[0].AgentID != nil || got[0].CreditsConsumed != 5 || got[1].CreditsConsumed != 0 || got[0].VoiceSeconds != 0 {
		t.Fatalf("rollups: %s (want credits 5 on the workspace row, 0 on the agent's)", dump(got))
	}
	// The summary reads the ledger through billing too (the initial ADJUSTMENT is not use).
	r := h.Get("/v1/analytics", w.Token)
	var rep Report
	r.JSON(t, &rep)
	if r.Status != 200 || rep.Summary.CreditsConsumed == nil || *rep.Summary.CreditsConsumed != 5 {
		t.Fatalf("status %d, creditsConsumed %v: %s", r.Status, rep.Summary.CreditsConsumed, r.Body)
	}
}

// reportFixture is one workspace's April 2024 (and 1 May) with one agent, and another
// workspace with activity on the same days.
type reportFixture struct {
	w, other     apitest.Workspace
	agent, alien string
}

func newReportFixture(t *testing.T, h *harness) reportFixture {
	f := reportFixture{w: h.workspace(), other: h.workspace()}
	f.agent = h.agent(f.w.ID)
	f.alien = h.agent(f.other.ID)
	x1 := h.conv(f.w.ID, f.agent, at("2024-04-01T10:00:00Z"), []string{"billing", "refund"}, nil)
	h.msg(x1, "USER", "hi", at("2024-04-01T10:00:00Z"), 0)
	h.msg(x1, "ASSISTANT", "hello", at("2024-04-01T10:00:01Z"), 100)
	res := at("2024-04-02T11:00:00Z")
	x2 := h.conv(f.w.ID, f.agent, at("2024-04-02T10:00:00Z"), []string{"billing"}, &res)
	h.msg(x2, "USER", "I want a human", at("2024-04-02T10:00:00Z"), 0)
	h.msg(x2, "ASSISTANT", "sure", at("2024-04-02T10:00:01Z"), 300)
	h.handoff(x2, "EXPLICIT_REQUEST", at("2024-04-02T10:01:00Z"))
	x3 := h.conv(f.w.ID, f.agent, at("2024-04-08T10:00:00Z"), nil, nil)
	h.msg(x3, "USER", "q", at("2024-04-08T10:00:00Z"), 0)
	h.msg(x3, "ASSISTANT", "a", at("2024-04-08T10:00:01Z"), 200)
	h.msg(x3, "USER", "thanks", at("2024-04-08T10:00:02Z"), 0)
	x4 := h.conv(f.w.ID, f.agent, at("2024-05-01T10:00:00Z"), nil, nil)
	h.msg(x4, "USER", "where is my order?", at("2024-05-01T10:00:00Z"), 0)
	h.msg(x4, "ASSISTANT", "unsure", at("2024-05-01T10:00:01Z"), 400)
	h.handoff(x4, "LOW_CONFIDENCE", at("2024-05-01T10:00:02Z"))
	// The other workspace: more of everything on the same days.
	y := h.conv(f.other.ID, f.alien, at("2024-04-01T09:00:00Z"), []string{"billing"}, nil)
	for i := range 5 {
		h.msg(y, "ASSISTANT", "noise", at("2024-04-01T09:00:00Z").Add(time.Duration(i)*time.Second), 9000)
	}
	h.handoff(y, "ANGER_DETECTED", at("2024-04-02T09:00:00Z"))
	return f
}

func TestReportSummaryAndSeries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newReportFixture(t, h)
	var progress bytes.Buffer
	if err := h.mod.Service().Backfill(context.Background(), day("2024-04-01"), day("2024-05-01"), &progress); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) != 32 || !strings.HasPrefix(lines[0], "[1/31] 2024-04-01  rows ") || !strings.HasPrefix(lines[31], "backfilled 31 days") {
		t.Fatalf("progress:\n%s", progress.String())
	}

	get := func(path string) Report {
		t.Helper()
		r := h.Get(path, f.w.Token)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		var rep Report
		r.JSON(t, &rep)
		return rep
	}
	rep := get("/v1/analytics?from=2024-04-01&to=2024-05-01")
	zero := 0
	wantSum := Summary{
		TotalMessages: 9, TotalConversations: 4, Handoffs: 2,
		HandoffsByTrigger: map[string]int{"EXPLICIT_REQUEST": 1, "LOW_CONFIDENCE": 1},
		Resolved:          1, ResolutionRate: 0.25, AvgLatencyMs: 250, P95LatencyMs: 385, CreditsConsumed: &zero,
	}
	if !reflect.DeepEqual(rep.Summary, wantSum) {
		t.Errorf("summary\n got %s\nwant %s", dump(rep.Summary), dump(wantSum))
	}
	if len(rep.Series) != 31 || rep.Series[0] != (Point{Date: "2024-04-01", Messages: 2, Conversations: 1, AvgLatencyMs: 100}) ||
		rep.Series[1] != (Point{Date: "2024-04-02", Messages: 2, Conversations: 1, Handoffs: 1, AvgLatencyMs: 300}) ||
		rep.Series[2] != (Point{Date: "2024-04-03"}) || rep.Series[30].Date != "2024-05-01" || rep.Series[30].Messages != 2 {
		t.Errorf("day series: %s", dump(rep.Series))
	}

	week := get("/v1/analytics?from=2024-04-01&to=2024-05-01&interval=week").Series
	wantWeek := []Point{
		{Date: "2024-04-01", Messages: 4, Conversations: 2, Handoffs: 1, AvgLatencyMs: 200},
		{Date: "2024-04-08", Messages: 3, Conversations: 1, AvgLatencyMs: 200},
		{Date: "2024-04-15"},
		{Date: "2024-04-22"},
		{Date: "2024-04-29", Messages: 2, Conversations: 1, Handoffs: 1, AvgLatencyMs: 400},
	}
	if !reflect.DeepEqual(week, wantWeek) {
		t.Errorf("week series\n got %s\nwant %s", dump(week), dump(wantWeek))
	}
	month := get("/v1/analytics?from=2024-04-01&to=2024-05-01&interval=month").Series
	// April: (100·2 + 300·2 + 200·3) / 7 = 200 (daily averages weighted by messages).
	wantMonth := []Point{
		{Date: "2024-04-01", Messages: 7, Conversations: 3, Handoffs: 1, AvgLatencyMs: 200},
		{Date: "2024-05-01", Messages: 2, Conversations: 1, Handoffs: 1, AvgLatencyMs: 400},
	}
	if !reflect.DeepEqual(month, wantMonth) {
		t.Errorf("month series\n got %s\nwant %s", dump(month), dump(wantMonth))
	}

	// The agent filter gives the same numbers (one agent) but no credits.
	byAgent := get("/v1/analytics?from=2024-04-01&to=2024-05-01&agentId=" + f.agent)
	if byAgent.Summary.TotalMessages != 9 || byAgent.Summary.CreditsConsumed != nil || len(byAgent.Series) != 31 || byAgent.Series[0].Messages != 2 {
		t.Errorf("agent filter: %s", dump(byAgent))
	}

	// The agent page: top tags and the questions that led to handoffs, newest first.
	r := h.Get("/v1/analytics/agents/"+f.agent+"?from=2024-04-01&to=2024-05-01", f.w.Token)
	var ag struct {
		Summary          Summary    `json:"summary"`
		TopTags          []TagCount `json:"topTags"`
		HandoffQuestions []struct {
			Trigger  string `json:"trigger"`
			Question string `json:"question"`
		} `json:"handoffQuestions"`
	}
	r.JSON(t, &ag)
	if r.Status != 200 || ag.Summary.TotalMessages != 9 ||
		!reflect.DeepEqual(ag.TopTags, []TagCount{{"billing", 2}, {"refund", 1}}) ||
		len(ag.HandoffQuestions) != 2 || ag.HandoffQuestions[0].Question != "where is my order?" ||
		ag.HandoffQuestions[1].Question != "I want a human" || ag.HandoffQuestions[1].Trigger != "EXPLICIT_REQUEST" {
		t.Errorf("agent page %d: %s", r.Status, r.Body)
	}

	// The other workspace sees only its own numbers.
	r = h.Get("/v1/analytics?from=2024-04-01&to=2024-05-01", f.other.Token)
	var o Report
	r.JSON(t, &o)
	if o.Summary.TotalMessages != 5 || o.Summary.Handoffs != 1 || o.Series[0].Messages != 5 || o.Series[0].AvgLatencyMs != 9000 {
		t.Errorf("other workspace: %s", r.Body)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.workspace()
	other := h.workspace()
	alien := h.agent(other.ID)
	for _, tc := range []struct {
		name, path, token string
		status            int
		code, field       string
	}{
		{"no token", "/v1/analytics", "", 401, "MISSING_TOKEN", ""},
		{"from after to", "/v1/analytics?from=2024-05-02&to=2024-05-01", w.Token, 400, "VALIDATION_ERROR", "from"},
		{"over 366 days", "/v1/analytics?from=2023-01-01&to=2024-01-02", w.Token, 400, "VALIDATION_ERROR", "to"},
		{"bad date", "/v1/analytics?from=yesterday", w.Token, 400, "VALIDATION_ERROR", "from"},
		{"bad interval", "/v1/analytics?interval=year", w.Token, 400, "VALIDATION_ERROR", "interval"},
		{"another workspace's agent", "/v1/analytics?agentId=" + alien, w.Token, 404, "NOT_FOUND", ""},
		{"agent id not a uuid", "/v1/analytics?agentId=nope", w.Token, 404, "NOT_FOUND", ""},
		{"agent page of another workspace", "/v1/analytics/agents/" + alien, w.Token, 404, "NOT_FOUND", ""},
		{"agent page bad id", "/v1/analytics/agents/x", w.Token, 404, "NOT_FOUND", ""},
		{"export bad format", "/v1/analytics/export?format=xml", w.Token, 400, "VALIDATION_ERROR", "format"},
		{"export over 366 days", "/v1/analytics/export?from=2020-01-01&to=2024-01-01", w.Token, 400, "VALIDATION_ERROR", "to"},
		{"notifications bad limit", "/v1/notifications?limit=500", w.Token, 400, "VALIDATION_ERROR", "limit"},
		{"notifications bad cursor", "/v1/notifications?cursor=zzz", w.Token, 400, "VALIDATION_ERROR", "cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Get(tc.path, tc.token)
			body := r.ExpectError(t, tc.status, tc.code)
			if tc.field != "" {
				d, _ := body["details"].(map[string]any)
				if _, ok := d[tc.field]; !ok {
					t.Errorf("details lack %q: %s", tc.field, r.Body)
				}
			}
		})
	}
	// 366 days, both ends included, is allowed.
	if r := h.Get("/v1/analytics?from=2024-01-01&to=2024-12-31", w.Token); r.Status != 200 {
		t.Errorf("366 days: %d %s", r.Status, r.Body)
	}
}

func TestExportCSVAndJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w, other := h.workspace(), h.workspace()
	a := h.agent(w.ID)
	c1 := h.conv(w.ID, a, at("2024-06-01T10:00:00Z"), nil, nil)
	contents := []string{"=SUM(A1:A9)", "-5 credits", "+1 555", "@admin", "hello, \"world\"\nline two"}
	for i, s := range contents {
		role, lat := "USER", 0
		if i%2 == 1 {
			role, lat = "ASSISTANT", 120
		}
		h.msg(c1, role, s, at("2024-06-01T10:00:00Z").Add(time.Duration(i)*time.Second), lat)
	}
	c2 := h.conv(w.ID, a, at("2024-06-02T10:00:00Z"), nil, nil)
	h.msg(c2, "USER", "plain", at("2024-06-02T10:00:00Z"), 0)
	h.handoff(c2, "EXPLICIT_REQUEST", at("2024-06-02T10:00:01Z"))
	h.msg(c2, "USER", "outside", at("2024-06-03T00:00:00Z"), 0) // after the range
	oa := h.agent(other.ID)
	h.msg(h.conv(other.ID, oa, at("2024-06-01T10:00:00Z"), nil, nil), "USER", "secret of another workspace", at("2024-06-01T11:00:00Z"), 0)

	r := h.Get("/v1/analytics/export?from=2024-06-01&to=2024-06-02&format=csv", w.Token)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
		r.Header.Get("Content-Disposition") != `attachment; filename="axon-messages-2024-06-01-2024-06-02.csv"` {
		t.Fatalf("csv: %d %v %s", r.Status, r.Header, r.Body)
	}
	recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("csv rows %d:\n%s", len(recs), r.Body)
	}
	wantContent := []string{"'=SUM(A1:A9)", "'-5 credits", "'+1 555", "'@admin", "hello, \"world\"\nline two", "plain"}
	for i, rec := range recs[1:] {
		if rec[5] != wantContent[i] {
			t.Errorf("row %d content %q, want %q", i+1, rec[5], wantContent[i])
		}
		if (rec[1] == c2.id) != (rec[8] == "true") {
			t.Errorf("row %d handedOff %q", i+1, rec[8])
		}
		if rec[2] != a || rec[3] != "WEB" {
			t.Errorf("row %d agent/channel %q %q", i+1, rec[2], rec[3])
		}
	}
	if recs[2][4] != "ASSISTANT" || recs[2][6] != "0.8" || recs[2][7] != "120" || recs[1][6] != "" || recs[1][7] != "" {
		t.Errorf("confidence/latency columns: %v %v", recs[1], recs[2])
	}
	if bytes.Contains(r.Body, []byte("secret")) || bytes.Contains(r.Body, []byte("outside")) {
		t.Error("export leaks another workspace's or out-of-range rows")
	}

	r = h.Get("/v1/analytics/export?from=2024-06-01&to=2024-06-02&format=json", w.Token)
	var rows []map[string]any
	if err := json.Unmarshal(r.Body, &rows); err != nil || r.Status != 200 {
		t.Fatalf("json %d %v: %s", r.Status, err, r.Body)
	}
	if len(rows) != 6 || rows[0]["content"] != "=SUM(A1:A9)" || rows[4]["content"] != contents[4] ||
		rows[5]["handedOff"] != true || rows[0]["handedOff"] != false || rows[1]["latencyMs"] != 120.0 || rows[0]["latencyMs"] != nil ||
		rows[0]["createdAt"] != "2024-06-01T10:00:00Z" || rows[0]["conversationId"] != c1.id {
		t.Errorf("json rows: %s", r.Body)
	}
	// An empty range is a valid, empty file.
	r = h.Get("/v1/analytics/export?from=2020-01-01&to=2020-01-02&format=json", w.Token)
	if r.Status != 200 || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("empty json export: %d %q", r.Status, r.Body)
	}
}

// flushRecorder records how much of the body had been written at each Flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	at []int
}

func (f *flushRecorder) Flush() {
	f.at = append(f.at, f.Body.Len())
	f.ResponseRecorder.Flush()
}

// TestExportStreamsAndFlushes checks the export is written while the cursor is read: the
// body is flushed every FlushEvery rows, so the first flush carries a part of the body, not
// the whole file built first.
func TestExportStreamsAndFlushes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.workspace()
	a := h.agent(w.ID)
	c := h.conv(w.ID, a, at("2024-07-01T00:00:00Z"), nil, nil)
	const n = 2*FlushEvery + 1
	h.exec(`INSERT INTO messages (id, conversation_id, workspace_id, role, content, created_at)
SELECT gen_random_uuid(), $1, $2, 'USER', 'message ' || i, '2024-07-01T00:00:00Z'::timestamptz + i * interval '1 second'
FROM generate_series(1, $3) AS i`, c.id, w.ID, n)
	for _, format := range []string{"csv", "json"} {
		rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
		e := echo.New()
		ctx := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
		ctx.Response().Writer = rec
		rng := Range{From: day("2024-07-01"), To: day("2024-07-01")}
		if err := (&handlers{svc: h.mod.Service()}).stream(ctx, w.ID, rng, format); err != nil {
			t.Fatal(err)
		}
		total := rec.Body.Len()
		if len(rec.at) < 3 || rec.at[0] == 0 || rec.at[0] >= total || rec.at[1] >= total {
			t.Fatalf("%s: flushes at %v of %d bytes; want ≥ 2 flushes before the end", format, rec.at, total)
		}
		lines := strings.Count(rec.Body.String(), "\n")
		if format == "csv" && lines != n+1 {
			t.Errorf("csv lines = %d, want %d", lines, n+1)
		}
		if format == "json" {
			var rows []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil || len(rows) != n {
				t.Errorf("json rows = %d (%v)", len(rows), err)
			}
		}
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w, other := h.workspace(), h.workspace()
	a := h.agent(w.ID)
	n1 := h.conv(w.ID, a, at("2024-08-01T10:00:00Z"), nil, nil)
	hid := h.handoff(n1, "ANGER_DETECTED", at("2024-08-01T11:00:00Z"))
	n2 := h.conv(w.ID, a, at("2024-08-01T12:00:00Z"), nil, nil)
	h.conv(other.ID, h.agent(other.ID), at("2024-08-01T13:00:00Z"), nil, nil)

	type item struct {
		ID, Type, ConversationID, Trigger string
	}
	type list struct {
		Items      []item  `json:"items"`
		NextCursor *string `json:"nextCursor"`
	}
	var p1, p2 list
	h.Get("/v1/notifications?limit=2", w.Token).JSON(t, &p1)
	if len(p1.Items) != 2 || p1.Items[0].ID != n2.id || p1.Items[0].Type != "NEW_CONVERSATION" ||
		p1.Items[1].ID != hid || p1.Items[1].Type != "HANDOFF" || p1.Items[1].Trigger != "ANGER_DETECTED" || p1.Items[1].ConversationID != n1.id || p1.NextCursor == nil {
		t.Fatalf("page 1: %s", dump(p1))
	}
	h.Get("/v1/notifications?limit=2&cursor="+*p1.NextCursor, w.Token).JSON(t, &p2)
	if len(p2.Items) != 1 || p2.Items[0].ID != n1.id || p2.NextCursor != nil {
		t.Fatalf("page 2: %s", dump(p2))
	}
}

func TestParseRangeDefaults(t *testing.T) {
	t.Parallel()
	now := at("2024-09-30T15:00:00Z")
	r, err := ParseRange("", "", now)
	if err != nil || r.From.Format(time.DateOnly) != "2024-09-01" || r.To.Format(time.DateOnly) != "2024-09-30" {
		t.Errorf("default range %v..%v (%v)", r.From, r.To, err)
	}
	if got := yesterday(at("2024-03-01T02:00:00Z")); got != "2024-02-29" {
		t.Errorf("yesterday = %s", got)
	}
	if got := rollupSchedule.Next(at("2024-03-01T02:00:00Z")); !got.Equal(at("2024-03-02T02:00:00Z")) {
		t.Errorf("next run after 02:00 = %v", got)
	}
	if got := rollupSchedule.Next(at("2024-03-01T01:59:00Z")); !got.Equal(at("2024-03-01T02:00:00Z")) {
		t.Errorf("next run before 02:00 = %v", got)
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprint(string(b))
}
