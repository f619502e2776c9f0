package email

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// fakeResend speaks Resend's wire format for POST /emails.
type fakeResend struct {
	mu       sync.Mutex
	requests []map[string]any
	keys     []string
	auth     []string
	fail     int // answer 500 to this many requests first
}

func (f *fakeResend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/emails" {
		http.Error(w, `{"statusCode":404,"name":"not_found","message":"no route"}`, 404)
		return
	}
	if f.fail > 0 {
		f.fail--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		_, _ = io.WriteString(w, `{"statusCode":500,"name":"internal_server_error","message":"boom"}`)
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.requests = append(f.requests, body)
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"re_`+time.Now().Format("150405.000000")+`"}`)
}

// indexesFor returns the positions of the requests sent for the e-mail id (the
// Idempotency-Key is the e-mail id).
func (f *fakeResend) indexesFor(id string) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for i, k := range f.keys {
		if k == id {
			out = append(out, i)
		}
	}
	return out
}

func setup(t *testing.T, fake *fakeResend) (*apitest.Env, *Module) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var mod *Module
	env := apitest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		sender, err := NewResend("re_test_key", "Axon <noreply@example.com>", srv.URL)
		if err != nil {
			return nil, err
		}
		mod, err = New(Deps{DB: d.DB, Queue: d.Queue, Sender: sender, Log: d.Log, AppURL: "https://app.example.com"})
		return []kernel.Module{mod}, err
	})
	return env, mod
}

func enqueue(t *testing.T, env *apitest.Env, mod *Module, m Message) string {
	t.Helper()
	var id string
	err := env.DB.InTx(context.Background(), func(tx *sqlx.Tx) error {
		var err error
		id, err = mod.Mailer().Enqueue(context.Background(), tx, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func status(t *testing.T, env *apitest.Env, id string) (st string, provider *string) {
	t.Helper()
	row := env.DB.QueryRow(`SELECT status, provider_id FROM emails WHERE id = $1`, id)
	if err := row.Scan(&st, &provider); err != nil {
		t.Fatal(err)
	}
	return st, provider
}

// The tests that start a worker do not run in parallel: a River worker takes every available
// email.send job in the test database, so another test's e-mail would go through this test's
// fake (parallel tests run only once every sequential test, and its worker, has finished).
func TestSendThroughResend(t *testing.T) {
	fake := &fakeResend{}
	env, mod := setup(t, fake)
	// No workspace: WorkspaceID is optional, and email's tests cannot create one through
	// auth's helpers (auth imports email).
	id := enqueue(t, env, mod, Message{
		To: "Owner <owner@example.com>", Template: TemplateLowCredits,
		Data: map[string]any{"WorkspaceName": "Acme <Corp>", "Balance": 12, "Plan": "STARTER"},
	})
	if st, _ := status(t, env, id); st != "QUEUED" {
		t.Fatalf("status after enqueue = %s", st)
	}
	env.StartWorker()
	apitest.Eventually(t, 10*time.Second, func() bool { st, _ := status(t, env, id); return st == "SENT" }, "email SENT")
	_, provider := status(t, env, id)
	if provider == nil || !strings.HasPrefix(*provider, "re_") {
		t.Errorf("provider id = %v", provider)
	}
	// Only this test's e-mail counts: the worker also sends what earlier runs of the
	// package's tests (go test -count=N) left queued in the shared database.
	mine := fake.indexesFor(id)
	if len(mine) != 1 {
		t.Fatalf("resend requests for this e-mail = %d", len(mine))
	}
	req := fake.requests[mine[0]]
	html, _ := req["html"].(string)
	if req["subject"] != "Your Axon credits are running low" || !strings.Contains(html, "Acme &lt;Corp&gt;") || !strings.Contains(html, "12 credits") {
		t.Errorf("request = %v", req)
	}
	if to, _ := req["to"].([]any); len(to) != 1 || to[0] != "owner@example.com" {
		t.Errorf("to = %v", req["to"])
	}
	if fake.auth[mine[0]] != "Bearer re_test_key" {
		t.Errorf("auth %q", fake.auth[mine[0]])
	}
	// Delivering a SENT e-mail again (a duplicate job run) sends nothing.
	if err := mod.svc.deliver(context.Background(), id, false); err != nil {
		t.Fatal(err)
	}
	if len(fake.indexesFor(id)) != 1 {
		t.Errorf("a SENT e-mail was sent again")
	}
}

func TestRolledBackEnqueueSendsNothing(t *testing.T) {
	t.Parallel()
	env, mod := setup(t, &fakeResend{})
	var id string
	err := env.DB.InTx(context.Background(), func(tx *sqlx.Tx) error {
		var err error
		id, err = mod.Mailer().Enqueue(context.Background(), tx, Message{
			To: "a@example.com", Template: TemplateInvoiceReady,
			Data: map[string]any{"WorkspaceName": "W"},
		})
		if err != nil {
			return err
		}
		return errors.New("caller fails after enqueueing")
	})
	if err == nil {
		t.Fatal("want the caller's error")
	}
	var rows, jobs int
	_ = env.DB.Get(&rows, `SELECT count(*) FROM emails WHERE id = $1`, id)
	_ = env.DB.Get(&jobs, `SELECT count(*) FROM river_job WHERE kind = 'email.send' AND args->>'emailId' = $1`, id)
	if rows != 0 || jobs != 0 {
		t.Errorf("rolled back enqueue left %d rows and %d jobs", rows, jobs)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	t.Parallel()
	env, mod := setup(t, &fakeResend{})
	for name, m := range map[string]Message{
		"bad address":      {To: "not an address", Template: TemplateHandoff},
		"unknown template": {To: "a@example.com", Template: "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			err := env.DB.InTx(context.Background(), func(tx *sqlx.Tx) error {
				_, err := mod.Mailer().Enqueue(context.Background(), tx, m)
				return err
			})
			if err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestFailedAttemptsEndFailed(t *testing.T) {
	t.Parallel()
	fake := &fakeResend{fail: 10}
	env, mod := setup(t, fake)
	id := enqueue(t, env, mod, Message{To: "a@example.com", Template: TemplatePaymentFailed, Data: map[string]any{"WorkspaceName": "W"}})
	w := &sendWorker{svc: mod.svc}
	job := func(attempt int) *river.Job[SendArgs] {
		return &river.Job[SendArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: 3}, Args: SendArgs{EmailID: id}}
	}
	if err := w.Work(context.Background(), job(1)); err == nil {
		t.Fatal("attempt 1 should fail")
	}
	if st, _ := status(t, env, id); st != "QUEUED" {
		t.Fatalf("after a retryable failure status = %s, want QUEUED", st)
	}
	if err := w.Work(context.Background(), job(3)); err == nil {
		t.Fatal("attempt 3 should fail")
	}
	if st, _ := status(t, env, id); st != "FAILED" {
		t.Fatalf("after the last attempt status = %s, want FAILED", st)
	}
	if got := (SendArgs{}).InsertOpts(); got.MaxAttempts != 3 || got.Queue != "email" {
		t.Errorf("insert opts = %+v", got)
	}
	if d := time.Until(w.NextRetry(job(1))); d < 9*time.Second || d > 11*time.Second {
		t.Errorf("next retry in %s, want 10 s", d)
	}
}

func TestEveryTemplateRenders(t *testing.T) {
	t.Parallel()
	_, mod := setup(t, &fakeResend{})
	for name := range subjects {
		r, err := mod.svc.Render(name, "a@example.com", map[string]any{"WorkspaceName": "W", "AgentName": "Bot"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Subject == "" || !strings.Contains(r.HTML, "<html>") || strings.Contains(r.HTML, "<no value>") {
			t.Errorf("%s rendered badly: %q", name, r.Subject)
		}
	}
}

func TestLogSenderKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	r := Rendered{To: "a@example.com", Subject: "s", HTML: `<a href="https://x/accept?token=SECRET123">`}
	var buf strings.Builder
	sender := LogSender{Log: observe.NewLogger(&buf, observe.LogOptions{Format: "json"})}
	if _, err := sender.Send(context.Background(), r, "id"); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "a@example.com") || strings.Contains(got, "SECRET123") {
		t.Errorf("logged mail contains the token: %s", got)
	}
}

// The service reports a delivery that cannot succeed as ErrPermanent, and the job layer turns
// it into River's cancel: a missing e-mail or an unknown template is not retried, while a
// provider failure is.
func TestWorkCancelsPermanentFailures(t *testing.T) {
	t.Parallel()
	env, mod := setup(t, &fakeResend{fail: 1})
	w := &sendWorker{svc: mod.svc}
	run := func(id string) error {
		return w.Work(context.Background(), &river.Job[SendArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 3}, Args: SendArgs{EmailID: id}})
	}
	var cancel *rivertype.JobCancelError

	err := run("0192f0a4-7b1e-7c3d-8e9f-0a1b2c3d4e5f")
	if !errors.As(err, &cancel) || !errors.Is(err, ErrPermanent) {
		t.Errorf("missing e-mail: err = %v, want a cancelled job", err)
	}

	broken := enqueue(t, env, mod, Message{To: "a@example.com", Template: TemplateInvoiceReady, Data: map[string]any{"WorkspaceName": "W"}})
	if _, err := env.DB.Exec(`UPDATE emails SET template = 'gone' WHERE id = $1`, broken); err != nil {
		t.Fatal(err)
	}
	if err := run(broken); !errors.As(err, &cancel) {
		t.Errorf("unknown template: err = %v, want a cancelled job", err)
	}
	if st, _ := status(t, env, broken); st != "FAILED" {
		t.Errorf("unknown template: status %s, want FAILED", st)
	}

	retried := enqueue(t, env, mod, Message{To: "a@example.com", Template: TemplateInvoiceReady, Data: map[string]any{"WorkspaceName": "W"}})
	if err := run(retried); err == nil || errors.As(err, &cancel) || errors.Is(err, ErrPermanent) {
		t.Errorf("provider failure: err = %v, want a retry", err)
	}
}
