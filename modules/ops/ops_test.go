package ops_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/modules/ops"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func newEnv(t *testing.T, batch int) (*apptest.Env, *ops.Module) {
	t.Helper()
	var mod *ops.Module
	env := apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		var err error
		mod, err = ops.New(ops.Deps{DB: d.DB, Log: d.Log, BatchSize: batch})
		return []kernel.Module{mod}, err
	})
	return env, mod
}

func exec(t *testing.T, env *apptest.Env, q string, args ...any) {
	t.Helper()
	if _, err := env.DB.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func count(t *testing.T, env *apptest.Env, q string, args ...any) int {
	t.Helper()
	var n int
	if err := env.DB.GetContext(context.Background(), &n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// fixture writes rows on both sides of every retention limit for one workspace.
type fixture struct {
	ws, tag string
}

func seed(t *testing.T, env *apptest.Env) fixture {
	t.Helper()
	w := env.NewWorkspace("STARTER", 0)
	f := fixture{ws: w.ID, tag: uuid.NewString()}
	// realtime_events: 5 past the 10-minute replay window, 2 inside it.
	exec(t, env, `INSERT INTO realtime_events (workspace_id, type, payload, created_at)
SELECT $1, 'credits_updated', '{}', now() - interval '11 minutes' FROM generate_series(1, 5)`, w.ID)
	exec(t, env, `INSERT INTO realtime_events (workspace_id, type, payload, created_at)
SELECT $1, 'credits_updated', '{}', now() - interval '9 minutes' FROM generate_series(1, 2)`, w.ID)
	// refresh_tokens: expired, expired and revoked (both go); revoked but not expired, live (stay).
	rt := `INSERT INTO refresh_tokens (id, user_id, workspace_id, family_id, token_hash, expires_at, revoked_at)
VALUES ($1, $2, $3, $1, $4, now() + $5::interval, CASE WHEN $6 THEN now() END)`
	for _, r := range []struct {
		expires string
		revoked bool
		hash    string
	}{
		{"-1 minute", false, "expired"},
		{"-2 days", true, "expired-revoked"},
		{"1 day", true, "revoked-live"},
		{"30 days", false, "live"},
	} {
		exec(t, env, rt, uuid.NewString(), w.UserID, w.ID, f.tag+":"+r.hash, r.expires, r.revoked)
	}
	// emails: SENT two days ago (blanked); SENT an hour ago, QUEUED and FAILED (kept).
	em := `INSERT INTO emails (id, workspace_id, "to", subject, template, data, status, sent_at, created_at)
VALUES ($1, $2, 'a@example.com', $3, 'low_credits', '{"WorkspaceName":"Acme","Balance":3}', $4, now() - $5::interval, now() - $5::interval)`
	for _, e := range []struct{ status, age string }{
		{"SENT", "2 days"}, {"SENT", "1 hour"}, {"QUEUED", "3 days"}, {"FAILED", "3 days"},
	} {
		exec(t, env, em, uuid.NewString(), w.ID, f.tag+":"+e.status+":"+e.age, e.status, e.age)
	}
	// stripe_events: 31 days old (goes), 29 days old (stays).
	for _, age := range []string{"31 days", "29 days"} {
		exec(t, env, `INSERT INTO stripe_events (id, type, payload, received_at) VALUES ($1, 'invoice.paid', '{}', now() - $2::interval)`,
			"evt_"+f.tag+"_"+age[:2], age)
	}
	// channel_inbound: answered 31 days ago (goes); unanswered 31 days ago and answered 29
	// days ago (stay). voice_calls: started 31 days ago (goes), 29 days ago (stays).
	ch := uuid.NewString()
	exec(t, env, `INSERT INTO channels (id, workspace_id, type, webhook_slug) VALUES ($1, $2, 'SMS', $3)`, ch, w.ID, f.tag)
	for _, r := range []struct {
		age       string
		processed bool
	}{{"31 days", true}, {"31 days", false}, {"29 days", true}} {
		exec(t, env, `INSERT INTO channel_inbound (id, workspace_id, channel_id, external_id, sender, content, received_at, processed_at)
VALUES ($1, $2, $3, $4, '+15550001111', 'hi', now() - $5::interval, CASE WHEN $6 THEN now() - $5::interval END)`,
			uuid.NewString(), w.ID, ch, r.age+fmt.Sprint(r.processed), r.age, r.processed)
	}
	for _, age := range []string{"31 days", "29 days"} {
		exec(t, env, `INSERT INTO voice_calls (channel_id, call_sid, workspace_id, caller, started_at) VALUES ($1, $2, $3, '+1555', now() - $4::interval)`,
			ch, "CA"+age, w.ID, age)
	}
	return f
}

// check asserts the survivors of one fixture after a prune.
func (f fixture) check(t *testing.T, env *apptest.Env) {
	t.Helper()
	if n := count(t, env, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1`, f.ws); n != 2 {
		t.Errorf("realtime_events left %d, want the 2 inside the replay window", n)
	}
	var hashes []string
	if err := env.DB.Select(&hashes, `SELECT token_hash FROM refresh_tokens WHERE workspace_id = $1 ORDER BY token_hash`, f.ws); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 2 || hashes[0] != f.tag+":live" || hashes[1] != f.tag+":revoked-live" {
		t.Errorf("refresh tokens left %v, want live and revoked-live", hashes)
	}
	var emails []struct {
		Subject string `db:"subject"`
		Data    string `db:"data"`
	}
	if err := env.DB.Select(&emails, `SELECT subject, data::text AS data FROM emails WHERE workspace_id = $1 ORDER BY subject`, f.ws); err != nil {
		t.Fatal(err)
	}
	if len(emails) != 4 {
		t.Fatalf("emails %d, want all 4 rows kept", len(emails))
	}
	for _, e := range emails {
		blank := e.Data == "{}"
		if want := e.Subject == f.tag+":SENT:2 days"; blank != want {
			t.Errorf("email %s: data %s (blanked %v, want %v)", e.Subject, e.Data, blank, want)
		}
	}
	if n := count(t, env, `SELECT count(*) FROM stripe_events WHERE id LIKE $1`, "evt_"+f.tag+"%"); n != 1 {
		t.Errorf("stripe_events left %d, want 1", n)
	}
	if n := count(t, env, `SELECT count(*) FROM stripe_events WHERE id = $1`, "evt_"+f.tag+"_29"); n != 1 {
		t.Error("the 29-day-old stripe event was pruned")
	}
	var inbound []string
	if err := env.DB.Select(&inbound, `SELECT external_id FROM channel_inbound WHERE workspace_id = $1 ORDER BY external_id`, f.ws); err != nil {
		t.Fatal(err)
	}
	if len(inbound) != 2 || inbound[0] != "29 daystrue" || inbound[1] != "31 daysfalse" {
		t.Errorf("channel_inbound left %v, want the unanswered and the recent one", inbound)
	}
	if n := count(t, env, `SELECT count(*) FROM voice_calls WHERE workspace_id = $1 AND call_sid = 'CA29 days'`, f.ws); n != 1 || count(t, env, `SELECT count(*) FROM voice_calls WHERE workspace_id = $1`, f.ws) != 1 {
		t.Error("voice_calls: want only the 29-day-old call left")
	}
}

// None of these tests runs in parallel: a prune walks the whole test database (every
// workspace's rows), so one test's run would remove another's fixture rows and a "second run
// prunes nothing" check would count another test's rows.

// Prune removes exactly the rows past their retention, in batches (a batch of 2 here, so the
// loop runs several statements per table), and a second run touches nothing.
func TestPruneTrimsOnlyExpiredRows(t *testing.T) {
	env, mod := newEnv(t, 2)
	f := seed(t, env)
	p, err := mod.Service().Prune(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, env)
	if p.RealtimeEvents < 5 || p.RefreshTokens < 2 || p.EmailBodies < 1 || p.StripeEvents < 1 || p.ChannelInbound < 1 || p.VoiceCalls < 1 {
		t.Errorf("pruned %+v", p)
	}
	p, err = mod.Service().Prune(context.Background(), time.Now())
	if err != nil || p != (ops.Pruned{}) {
		t.Fatalf("second run pruned %+v, %v; want nothing", p, err)
	}
	f.check(t, env)
}

// A backlog larger than one batch is removed by several bounded statements in one run.
func TestPruneClearsBacklogInBatches(t *testing.T) {
	env, mod := newEnv(t, 0) // default batch of 5000
	w := env.NewWorkspace("STARTER", 0)
	exec(t, env, `INSERT INTO realtime_events (workspace_id, type, payload, created_at)
SELECT $1, 'new_message', '{}', now() - interval '1 hour' FROM generate_series(1, 12001)`, w.ID)
	if _, err := mod.Service().Prune(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1`, w.ID); n != 0 {
		t.Fatalf("%d of 12001 old events left", n)
	}
}

// ops.prune is a periodic job that also runs when a worker starts.
func TestPruneJobRunsAtWorkerStart(t *testing.T) {
	env, _ := newEnv(t, 0)
	f := seed(t, env)
	env.StartWorker()
	apitest.Eventually(t, 30*time.Second, func() bool {
		return count(t, env, `SELECT count(*) FROM stripe_events WHERE id = $1`, "evt_"+f.tag+"_31") == 0
	}, "ops.prune ran at worker start")
	apitest.Eventually(t, 10*time.Second, func() bool {
		return count(t, env, `SELECT count(*) FROM river_job WHERE kind = 'ops.prune' AND state = 'completed'`) >= 1
	}, "ops.prune completed")
	f.check(t, env)
}
