package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/lib/pq"

	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// outcome counts one kind of client's requests during a shutdown.
type outcome struct {
	mu                          sync.Mutex
	completed, refused, dropped int
	drops                       []string
	// unanswered are the request ids of requests that failed without a response on a
	// connection that was not refused: accepted by the kernel, then either reset in the
	// listen backlog when the listener closed (the server never saw them) or dropped by the
	// server. The server's access log tells which (settle).
	unanswered map[string]string
}

// add counts one request; it returns whether the connection was refused (the client stops).
func (o *outcome) add(completed bool, err error, id, drop string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case completed:
		o.completed++
	case err != nil && refusedAtConnect(err):
		o.refused++
		return true
	case err != nil:
		if o.unanswered == nil {
			o.unanswered = map[string]string{}
		}
		o.unanswered[id] = drop
		return true // the listener is closing: stop like a refused client
	default:
		o.drop(drop)
	}
	return false
}

func (o *outcome) drop(what string) {
	o.dropped++
	if len(o.drops) < 10 {
		o.drops = append(o.drops, what)
	}
}

// settle classifies the unanswered requests with the server's log: a request the server
// logged was accepted and then dropped; one it never logged was never accepted (reset in the
// backlog) and counts as refused. It returns how many were reset in the backlog.
func (o *outcome) settle(serverLog string) int {
	reset := 0
	for id, what := range o.unanswered {
		if strings.Contains(serverLog, `"requestId":"`+id+`"`) {
			o.drop(what + " (accepted: in the access log)")
			continue
		}
		o.refused++
		reset++
	}
	return reset
}

// refusedAtConnect reports whether err happened before the server accepted the connection
// (the listener was closed: connection refused on dial).
func refusedAtConnect(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// TestShutdownServeUnderTraffic SIGTERMs `serve` while clients hammer a cheap authenticated
// route and a slow one (a streamed chat answer from an OpenAI fake that answers each call
// after a delay), and an SSE stream is open. Half of the clients behave like a load
// balancer's: they poll /health and stop sending once it fails; the other half ignore it and
// keep sending until the connection is refused. Every request must end completed (2xx, and a
// stream's [DONE]) or refused at connect: none accepted and then dropped (reset, EOF before
// the end, 5xx). /health must turn 503 "draining" while requests are still answered, the SSE
// stream must end with a retry: frame, and the process must exit 0.
func TestShutdownServeUnderTraffic(t *testing.T) {
	ai := fakeopenai.New(t)
	ai.SetDelay(700 * time.Millisecond)
	s := serve(t, map[string]string{
		"DATABASE_URL": pgtest.URL(t), "OPENAI_API_KEY": "sk-e2e-shutdown", "OPENAI_BASE_URL": ai.URL(),
		"SHUTDOWN_DRAIN": "2s", "SHUTDOWN_TIMEOUT": "20s", "RATE_LIMIT_SCALE": "1000", "LOG_LEVEL": "info",
	})
	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	r := call(t, "POST", s.base+"/v1/agents", map[string]any{"name": "Slow", "systemPrompt": "Be brief."}, auth)
	agent, _ := r.body["id"].(string)
	if r.status != 201 || agent == "" {
		t.Fatalf("create agent: %d %s", r.status, r.raw)
	}
	if r := call(t, "PATCH", s.base+"/v1/agents/"+agent, map[string]any{"status": "ACTIVE"}, auth); r.status != 200 {
		t.Fatalf("activate agent: %d %s", r.status, r.raw)
	}

	// The SSE stream: every line it receives, and when it ended.
	sseLines := make(chan []string, 1)
	{
		req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/events?access_token="+acct.access, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /v1/events: %v %v", err, res)
		}
		t.Cleanup(func() { res.Body.Close() })
		go func() {
			var lines []string
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			sseLines <- lines
		}()
	}

	// The balancer: polls /health; once it fails, balanced clients stop sending.
	var lbOut atomic.Bool
	var drainingSeen atomic.Int64 // 503 "draining" answers
	var healthOK atomic.Int64
	stopAll := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stopAll:
				return
			case <-time.After(50 * time.Millisecond):
			}
			res, err := hc.Get(s.base + "/health")
			if err != nil {
				lbOut.Store(true)
				continue
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case res.StatusCode == 200:
				healthOK.Add(1)
			case res.StatusCode == 503 && strings.Contains(string(b), `"draining"`):
				drainingSeen.Add(1)
				lbOut.Store(true)
			default:
				lbOut.Store(true)
			}
		}
	}()

	cheap, slow := &outcome{}, &outcome{}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	meReq := func() bool {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/auth/me", nil)
		id := uuid.NewString()
		req.Header.Set("Authorization", "Bearer "+acct.access)
		req.Header.Set(echo.HeaderXRequestID, id)
		res, err := client.Do(req)
		if err != nil {
			return cheap.add(false, err, id, "GET /v1/auth/me: "+err.Error())
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		ok := err == nil && res.StatusCode == 200 && strings.Contains(string(b), acct.email)
		return cheap.add(ok, nil, id, fmt.Sprintf("GET /v1/auth/me: %d %v %.80s", res.StatusCode, err, b))
	}
	chatReq := func(i int) bool {
		body := strings.NewReader(`{"message":"Question ` + strconv.Itoa(i) + `, are you open?","stream":true}`)
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/agents/"+agent+"/chat", body)
		req.Header.Set("Authorization", "Bearer "+acct.access)
		req.Header.Set("Content-Type", "application/json")
		id := uuid.NewString()
		req.Header.Set(echo.HeaderXRequestID, id)
		res, err := client.Do(req)
		if err != nil {
			return slow.add(false, err, id, "POST chat: "+err.Error())
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		ok := err == nil && res.StatusCode == 200 && strings.Contains(string(b), "data: [DONE]")
		return slow.add(ok, nil, id, fmt.Sprintf("POST chat: %d %v %.120s", res.StatusCode, err, b))
	}
	// A client that ignores the balancer stops at its first refusal.
	run := func(balanced bool, do func() bool) {
		defer wg.Done()
		for {
			select {
			case <-stopAll:
				return
			default:
			}
			if balanced && lbOut.Load() {
				return
			}
			if do() {
				return
			}
		}
	}
	var chatN atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go run(i%2 == 0, meReq)
		go run(i%2 == 0, func() bool { return chatReq(int(chatN.Add(1))) })
	}

	// Traffic for a moment, so slow answers are in flight, then SIGTERM.
	eventually(t, "traffic", 20*time.Second, func() bool {
		cheap.mu.Lock()
		defer cheap.mu.Unlock()
		slow.mu.Lock()
		defer slow.mu.Unlock()
		return cheap.completed > 50 && slow.completed >= 8
	})
	sigterm := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not exit within 40 s of SIGTERM:\n%s", s.stderr.String())
	}
	exited := time.Since(sigterm)
	close(stopAll)
	wg.Wait()
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM:\n%s", code, s.stderr.String())
	}

	t.Logf("SIGTERM → exit %s; /health: %d ok, %d draining", exited.Round(time.Millisecond), healthOK.Load(), drainingSeen.Load())
	for _, o := range []struct {
		name string
		*outcome
	}{{"GET /v1/auth/me", cheap}, {"POST /v1/agents/:id/chat (stream)", slow}} {
		reset := o.settle(s.stderr.String())
		t.Logf("%s: %d completed, %d refused at connect (%d of them reset in the listen backlog, never seen by the server), %d dropped",
			o.name, o.completed, o.refused, reset, o.dropped)
		if o.dropped != 0 {
			t.Errorf("%s: %d accepted and then dropped: %v", o.name, o.dropped, o.drops)
		}
	}
	if drainingSeen.Load() == 0 {
		t.Error(`/health never answered 503 "draining" during the drain`)
	}
	if slow.refused == 0 || cheap.refused == 0 {
		t.Errorf("the clients that ignore /health were never refused (cheap %d, slow %d): did the listener close?", cheap.refused, slow.refused)
	}

	// The SSE stream ended with a retry hint as its last frame.
	var lines []string
	select {
	case lines = <-sseLines:
	case <-time.After(10 * time.Second):
		t.Fatal("the SSE stream did not end")
	}
	last := ""
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != "" {
			last = lines[i]
			break
		}
	}
	ms, err := strconv.Atoi(strings.TrimPrefix(last, "retry: "))
	if !strings.HasPrefix(last, "retry: ") || err != nil || ms <= 0 {
		t.Errorf("the SSE stream's last frame is %q, want a retry: hint (lines %q)", last, lines)
	}
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"drained; closing the listener and finishing in-flight requests"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("no %s log line", want)
		}
	}
}

// fakeResend is a slow Resend: POST /emails answers after delay, or, while held, not until
// the hold ends. A request whose client gives up before the answer delivers nothing
// (aborted). Every answered request counts as a delivery, even for a key already delivered:
// Resend would deduplicate by Idempotency-Key, but the test counts what the job layer sends.
type fakeResend struct {
	delay time.Duration

	mu        sync.Mutex
	delivered map[string]int       // deliveries per key (must end at 1)
	aborted   map[string]time.Time // when the last abandoned request of a key was abandoned
	inFlight  map[string]int       // concurrent requests per key
	holding   bool
	waiting   []chan struct{} // held requests, oldest first; closed to answer them
	overlaps  int             // a key requested while another request for it was in flight
}

func newFakeResend(t *testing.T, delay time.Duration) (*fakeResend, string) {
	f := &fakeResend{delay: delay, delivered: map[string]int{}, aborted: map[string]time.Time{}, inFlight: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeResend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/emails" {
		http.Error(w, `{"statusCode":404,"name":"not_found","message":"no route"}`, 404)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	if f.inFlight[key] > 0 {
		f.overlaps++
	}
	f.inFlight[key]++
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight[key]--; f.mu.Unlock() }()

	var wait <-chan time.Time
	var unheld chan struct{}
	f.mu.Lock()
	if f.holding {
		unheld = make(chan struct{})
		f.waiting = append(f.waiting, unheld)
	} else {
		wait = time.After(f.delay)
	}
	f.mu.Unlock()
	select {
	case <-wait:
	case <-unheld:
	case <-r.Context().Done():
		f.mu.Lock()
		f.aborted[key] = time.Now()
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	f.delivered[key]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"re_`+key+`"}`)
}

// hold makes every new request wait to be answered by answer or unhold (or until its client
// gives up).
func (f *fakeResend) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holding = true
}

// answer answers the n oldest held requests.
func (f *fakeResend) answer(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ; n > 0 && len(f.waiting) > 0; n-- {
		close(f.waiting[0])
		f.waiting = f.waiting[1:]
	}
}

// unhold ends the hold and answers every held request.
func (f *fakeResend) unhold() {
	f.mu.Lock()
	f.holding = false
	f.mu.Unlock()
	f.answer(1 << 30)
}

// startWorker starts `axon work` and waits for its "workers started" line.
func startWorker(t *testing.T, env map[string]string) *proc {
	t.Helper()
	w := start(t, env, "work")
	eventually(t, "workers started", 20*time.Second, func() bool {
		select {
		case <-w.done:
			t.Fatalf("work exited %d:\n%s", w.cmd.ProcessState.ExitCode(), w.stderr.String())
		default:
		}
		return strings.Contains(w.stderr.String(), `"msg":"workers started"`)
	})
	return w
}

// TestShutdownWorkUnderLoad SIGTERMs `work` in the middle of 200 email.send jobs against a
// slow Resend, then starts a second worker. The first worker's running jobs get
// SHUTDOWN_TIMEOUT to finish; the ones that cannot are cancelled and released (available
// again at once, attempt not counted), and the second worker delivers them. Every e-mail is
// delivered exactly once (the fake counts deliveries per Idempotency-Key, which is the
// e-mail id), every job is completed, none was worked by two workers at the same time, and
// no released job carries an error or a consumed attempt.
func TestShutdownWorkUnderLoad(t *testing.T) {
	ctx := context.Background()
	resend, resendURL := newFakeResend(t, 100*time.Millisecond)
	env := map[string]string{
		"DATABASE_URL": pgtest.URL(t), "RESEND_API_KEY": "re_e2e_shutdown", "RESEND_BASE_URL": resendURL,
		"PORT": strconv.Itoa(testkit.FreePort(t)), "LOG_LEVEL": "info", "SHUTDOWN_TIMEOUT": "1s",
	}

	// 200 e-mails and their jobs, enqueued through the email module in one transaction.
	db := pgtest.DB(t)
	inserter, err := queue.NewInsertOnly(db.DB.DB, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := email.New(email.Deps{DB: db, Queue: inserter, Log: slog.New(slog.DiscardHandler), AppURL: "https://app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := make([]string, 0, n)
	w1 := startWorker(t, env)
	if err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		for i := 0; i < n; i++ {
			id, err := mod.Mailer().Enqueue(ctx, tx, email.Message{
				To: fmt.Sprintf("owner%03d@example.com", i), Template: email.TemplateLowCredits,
				Data: map[string]any{"WorkspaceName": "Shutdown " + strconv.Itoa(i), "Balance": 12, "Plan": "STARTER"},
			})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deliveredOf := func() int {
		resend.mu.Lock()
		defer resend.mu.Unlock()
		c := 0
		for _, id := range ids {
			c += resend.delivered[id]
		}
		return c
	}

	// Mid-batch: Resend stops answering, so the first worker's ten email-queue slots fill with
	// attempts that cannot finish within SHUTDOWN_TIMEOUT; then SIGTERM.
	eventually(t, "the first deliveries", 30*time.Second, func() bool { return deliveredOf() >= 30 })
	resend.hold()
	// Held, not merely in flight: a request that started before hold() is still on its
	// 100 ms timer and finishes by itself; only once all ten slots wait on hold does each
	// delivery during the soft stop come from answer().
	eventually(t, "ten held deliveries", 10*time.Second, func() bool {
		resend.mu.Lock()
		defer resend.mu.Unlock()
		return len(resend.waiting) >= 10
	})
	atSigterm := deliveredOf()
	sigterm := time.Now()
	if err := w1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// During the soft stop, half of the held deliveries are answered: their jobs finish.
	time.Sleep(100 * time.Millisecond)
	const finishing = 5
	resend.answer(finishing)
	r1 := wait(t, w1)
	stopped := time.Since(sigterm)
	resend.unhold()
	if r1.code != 0 || !strings.Contains(r1.stderr, `"msg":"workers stopped"`) {
		t.Fatalf("first worker: exit %d\n%s", r1.code, r1.stderr)
	}
	atStop := deliveredOf()
	if atStop-atSigterm != finishing {
		t.Errorf("%d deliveries finished during the soft stop, want the %d answered then", atStop-atSigterm, finishing)
	}
	var running int
	if err := db.GetContext(ctx, &running, `SELECT count(*) FROM river_job WHERE kind = 'email.send' AND state = 'running' AND args->>'emailId' = ANY($1)`, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("%d email.send jobs still running after the first worker exited (left for the rescue)", running)
	}

	// Released at once: the first worker's abandoned jobs are available again, due now (not
	// after email.send's 10 s retry backoff, nor after a rescue).
	type releasedRow struct {
		EmailID     string    `db:"email_id"`
		State       string    `db:"state"`
		ScheduledAt time.Time `db:"scheduled_at"`
	}
	var releasedRows []releasedRow
	resend.mu.Lock()
	var abortedIDs []string
	abortedAt := map[string]time.Time{}
	for _, id := range ids {
		if at, ok := resend.aborted[id]; ok {
			abortedIDs = append(abortedIDs, id)
			abortedAt[id] = at
		}
	}
	resend.mu.Unlock()
	if err := db.SelectContext(ctx, &releasedRows, `SELECT args->>'emailId' AS email_id, state, scheduled_at FROM river_job
		WHERE kind = 'email.send' AND args->>'emailId' = ANY($1)`, pq.Array(abortedIDs)); err != nil {
		t.Fatal(err)
	}
	// When a released job is due again, relative to when Resend saw its request abandoned.
	dueMin, dueMax := time.Hour, -time.Hour
	for _, j := range releasedRows {
		if j.State != "available" {
			t.Errorf("released job of %s is %s after the first worker exited, want available", j.EmailID, j.State)
		}
		d := j.ScheduledAt.Sub(abortedAt[j.EmailID])
		dueMin, dueMax = min(dueMin, d), max(dueMax, d)
	}
	var available int
	if err := db.GetContext(ctx, &available, `SELECT count(*) FROM river_job WHERE kind = 'email.send' AND state = 'available' AND args->>'emailId' = ANY($1)`, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	if dueMax > 2*time.Second {
		t.Errorf("a released job is due %s after its release (a retry backoff, not a release)", dueMax)
	}

	w2Start := time.Now()
	w2 := startWorker(t, env)
	w2Ready := time.Now()
	eventually(t, "every e-mail SENT", 60*time.Second, func() bool {
		var sent int
		if err := db.GetContext(ctx, &sent, `SELECT count(*) FROM emails WHERE status = 'SENT' AND id = ANY($1)`, pq.Array(ids)); err != nil {
			t.Fatal(err)
		}
		return sent == n
	})
	if err := w2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r2 := wait(t, w2); r2.code != 0 {
		t.Fatalf("second worker: exit %d\n%s", r2.code, r2.stderr)
	}

	// Exactly once: one delivery per e-mail, none concurrent.
	resend.mu.Lock()
	var missing, twice []string
	for _, id := range ids {
		switch c := resend.delivered[id]; {
		case c == 0:
			missing = append(missing, id)
		case c > 1:
			twice = append(twice, id)
		}
	}
	overlaps := resend.overlaps
	aborted := map[string]time.Time{}
	for _, id := range ids {
		if at, ok := resend.aborted[id]; ok {
			aborted[id] = at
		}
	}
	resend.mu.Unlock()
	if len(missing) > 0 || len(twice) > 0 || overlaps > 0 {
		t.Fatalf("deliveries: %d missing, %d twice, %d overlapping requests", len(missing), len(twice), overlaps)
	}

	// Every job completed; the released ones (attempted by both workers) with no error and
	// the interrupted attempt not counted.
	type jobRow struct {
		EmailID     string    `db:"email_id"`
		State       string    `db:"state"`
		Attempt     int       `db:"attempt"`
		Errors      int       `db:"errors"`
		By          int       `db:"by"`
		AttemptedAt time.Time `db:"attempted_at"`
	}
	var jobs []jobRow
	if err := db.SelectContext(ctx, &jobs, `
		SELECT args->>'emailId' AS email_id, state, attempt, coalesce(cardinality(errors), 0) AS errors,
		       coalesce(cardinality(attempted_by), 0) AS by, attempted_at
		FROM river_job WHERE kind = 'email.send' AND args->>'emailId' = ANY($1)`, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != n {
		t.Fatalf("%d email.send jobs, want %d", len(jobs), n)
	}
	var released []time.Duration
	for _, j := range jobs {
		if j.State != "completed" || j.Errors != 0 || j.Attempt != 1 {
			t.Errorf("job of %s: state %s, attempt %d, %d errors", j.EmailID, j.State, j.Attempt, j.Errors)
		}
		if at, ok := aborted[j.EmailID]; ok {
			if j.By != 2 {
				t.Errorf("job of %s was released but attempted by %d clients", j.EmailID, j.By)
			}
			// The pick-up: the second worker's fetch after it was ready (the release came
			// before it started).
			from := at
			if w2Ready.After(from) {
				from = w2Ready
			}
			released = append(released, j.AttemptedAt.Sub(from))
		}
	}
	if len(released) == 0 {
		t.Fatalf("no job was released (SIGTERM came after the batch? %d of %d delivered at stop)", atStop, n)
	}
	sort.Slice(released, func(i, j int) bool { return released[i] < released[j] })
	t.Logf("first worker: SIGTERM → exit %s (SHUTDOWN_TIMEOUT %s); %d of %d delivered by then, %d of them during the soft stop",
		stopped.Round(time.Millisecond), env["SHUTDOWN_TIMEOUT"], atStop, n, atStop-atSigterm)
	t.Logf("released: %d jobs, due again %s..%s after Resend saw their request abandoned, queued behind %d older available jobs (FIFO); second worker ready %s after its start; pick-up after it was ready: min %s, median %s, max %s",
		len(released), dueMin.Round(time.Millisecond), dueMax.Round(time.Millisecond), available-len(releasedRows), w2Ready.Sub(w2Start).Round(time.Millisecond), released[0].Round(time.Millisecond),
		released[len(released)/2].Round(time.Millisecond), released[len(released)-1].Round(time.Millisecond))
	t.Logf("deliveries: %d e-mails, each answered once; no request for one overlapped another", n)
}
