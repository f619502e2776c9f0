package realtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/realtime"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

// ---- fixtures -------------------------------------------------------------------------

type fixture struct {
	t    *testing.T
	db   *pg.DB
	hub  *realtime.Hub
	iss  *authn.Issuer
	srv  *httptest.Server
	logs *syncbuf.Buffer
	// allowed conversations per workspace, for the authorize callback.
	mu      sync.Mutex
	allowed map[string]string // conversation → workspace
}

type fixOpts struct {
	hub        realtime.HubOptions
	sndBuf     int           // the server's socket send buffer (0: the system default)
	srvTimeout time.Duration // http.Server WriteTimeout
}

func newFixture(t *testing.T, o fixOpts) *fixture {
	t.Helper()
	f := &fixture{t: t, db: pgtest.DB(t), logs: &syncbuf.Buffer{}, allowed: map[string]string{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ho := o.hub
	ho.DB, ho.URL, ho.Log = f.db, pgtest.URL(t), log
	f.hub = realtime.NewHub(ho)
	if err := f.hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.hub.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub log:\n%s", f.logs.String())
		}
	})
	var err error
	f.iss, err = authn.NewIssuer("realtime-test-secret-0123456789-abcdefghijkl", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := web.New(web.Options{Logger: log})
	e.GET("/v1/events", f.hub.Handler(f.authorize), authn.Middleware(f.iss, true))
	f.srv = httptest.NewUnstartedServer(e)
	if o.sndBuf > 0 {
		f.srv.Listener = smallSendBuffer{f.srv.Listener, o.sndBuf}
	}
	f.srv.Config.WriteTimeout = o.srvTimeout
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) authorize(_ context.Context, workspaceID, conversationID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.allowed[conversationID] != workspaceID {
		return apperr.NotFoundf("Conversation")
	}
	return nil
}

func (f *fixture) conversation(workspaceID string) string {
	id := uuid.NewString()
	f.mu.Lock()
	f.allowed[id] = workspaceID
	f.mu.Unlock()
	return id
}

func (f *fixture) token(workspaceID string) string {
	tok, err := f.iss.Issue(authn.Principal{UserID: uuid.NewString(), WorkspaceID: workspaceID, Role: authn.RoleMember})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// publish commits one event and returns its id.
func (f *fixture) publish(ws, conv, typ string, payload any) int64 {
	f.t.Helper()
	var id int64
	err := f.db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		if err := (realtime.PG{}).Publish(context.Background(), tx, realtime.Event{WorkspaceID: ws, ConversationID: conv, Type: typ, Payload: payload}); err != nil {
			return err
		}
		return tx.Get(&id, `SELECT currval(pg_get_serial_sequence('realtime_events', 'id'))`)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// smallSendBuffer shrinks every accepted connection's send buffer, so a client that reads
// nothing blocks the server's writes after a few kilobytes.
type smallSendBuffer struct {
	net.Listener
	size int
}

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// ---- SSE client -----------------------------------------------------------------------

type frame struct {
	id    int64
	event string
	data  string
}

type client struct {
	t      *testing.T
	res    *http.Response
	frames chan frame
	retry  chan string
	done   chan struct{} // closed when the stream ends
}

type dial struct {
	query   string
	header  map[string]string
	rcvBuf  int  // the client's socket receive buffer (0: default)
	noRead  bool // never read the body
	noToken bool
}

// open connects to /v1/events with ws's token; a non-200 answer is returned as (nil, res).
func (f *fixture) open(ws string, d dial) (*client, *http.Response) {
	f.t.Helper()
	u := f.srv.URL + "/v1/events"
	q := d.query
	req, err := http.NewRequest(http.MethodGet, u+"?"+q, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if !d.noToken {
		req.Header.Set("Authorization", "Bearer "+f.token(ws))
	}
	for k, v := range d.header {
		req.Header.Set(k, v)
	}
	dialer := &net.Dialer{}
	if d.rcvBuf > 0 {
		dialer.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, d.rcvBuf)
			})
		}
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	res, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		return nil, res
	}
	c := &client{t: f.t, res: res, frames: make(chan frame, 10000), retry: make(chan string, 1), done: make(chan struct{})}
	if !d.noRead {
		go c.read()
	}
	return c, res
}

func (c *client) read() {
	sc := bufio.NewScanner(c.res.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	var fr frame
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if fr.event != "" {
				fr.data = strings.Join(data, "\n")
				c.frames <- fr
			}
			fr, data = frame{}, nil
		case strings.HasPrefix(line, "retry: "):
			select {
			case c.retry <- strings.TrimPrefix(line, "retry: "):
			default:
			}
		case strings.HasPrefix(line, ":"):
			c.frames <- frame{event: "comment", data: line}
		case strings.HasPrefix(line, "id: "):
			fr.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			fr.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
	close(c.done)
	close(c.frames)
}

// next returns the next event frame (comments skipped).
func (c *client) next() frame {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case fr, ok := <-c.frames:
			if !ok {
				c.t.Fatal("stream ended while an event was expected")
			}
			if fr.event == "comment" {
				continue
			}
			return fr
		case <-timeout:
			c.t.Fatal("no event within 15 s")
		}
	}
}

// ids reads n events and returns their ids.
func (c *client) ids(n int) []int64 {
	c.t.Helper()
	out := make([]int64, n)
	for i := range out {
		out[i] = c.next().id
	}
	return out
}

// ended waits for the stream to end.
func (c *client) ended() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Fatal("the stream did not end")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func payloadOf(t *testing.T, fr frame) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(fr.data), &m); err != nil {
		t.Fatalf("data %q: %v", fr.data, err)
	}
	return m
}

// ---- tests ----------------------------------------------------------------------------

func TestStreamFramesAndCommitOnlyDelivery(t *testing.T) {
	f := newFixture(t, fixOpts{})
	ws := uuid.NewString()
	c, res := f.open(ws, dial{})
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	select {
	case r := <-c.retry:
		if r != "2000" {
			t.Errorf("retry hint = %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retry hint")
	}
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 1 })
	ctx := context.Background()

	// A rolled-back event never arrives: the next event seen is the committed marker.
	err := f.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := (realtime.PG{}).Publish(ctx, tx, realtime.Event{WorkspaceID: ws, Type: realtime.TypeCreditsUpdated, Payload: map[string]int{"balance": -1}}); err != nil {
			return err
		}
		return errors.New("rollback")
	})
	if err == nil {
		t.Fatal("want the rollback error")
	}
	marker := f.publish(ws, "", realtime.TypeKnowledgeReady, map[string]string{"docId": "d1"})
	if fr := c.next(); fr.id != marker || fr.event != realtime.TypeKnowledgeReady || payloadOf(t, fr)["docId"] != "d1" {
		t.Fatalf("first frame = %+v, want the committed marker %d", fr, marker)
	}

	// An event published in an open transaction arrives only after its commit: a marker
	// committed meanwhile comes first.
	tx, err := f.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if err := (realtime.PG{}).Publish(ctx, tx, realtime.Event{WorkspaceID: ws, Type: realtime.TypeCreditsUpdated, Payload: map[string]int{"balance": 7}}); err != nil {
		t.Fatal(err)
	}
	var pendingID int64
	if err := tx.Get(&pendingID, `SELECT currval(pg_get_serial_sequence('realtime_events', 'id'))`); err != nil {
		t.Fatal(err)
	}
	marker2 := f.publish(ws, "", realtime.TypeKnowledgeReady, map[string]string{"docId": "d2"})
	if fr := c.next(); fr.id != marker2 {
		t.Fatalf("got %+v before the commit, want marker %d", fr, marker2)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	fr := c.next()
	if fr.id != pendingID || fr.event != realtime.TypeCreditsUpdated || payloadOf(t, fr)["balance"] != float64(7) {
		t.Fatalf("after commit got %+v, want event %d", fr, pendingID)
	}
}

func TestWorkspaceIsolationAndConversationFilter(t *testing.T) {
	f := newFixture(t, fixOpts{})
	wsA, wsB := uuid.NewString(), uuid.NewString()
	convA1, convA2 := f.conversation(wsA), f.conversation(wsA)
	b, _ := f.open(wsB, dial{})
	a1, _ := f.open(wsA, dial{query: "conversationId=" + convA1})
	all, _ := f.open(wsA, dial{})
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 3 })

	e1 := f.publish(wsA, convA2, realtime.TypeNewMessage, map[string]string{"conversationId": convA2})
	e2 := f.publish(wsA, "", realtime.TypeCreditsUpdated, map[string]int{"balance": 3})
	e3 := f.publish(wsA, convA1, realtime.TypeNewMessage, map[string]string{"conversationId": convA1})
	e4 := f.publish(wsB, "", realtime.TypeCreditsUpdated, map[string]int{"balance": 9})

	if got := all.ids(3); fmt.Sprint(got) != fmt.Sprint([]int64{e1, e2, e3}) {
		t.Errorf("workspace stream got %v, want %v", got, []int64{e1, e2, e3})
	}
	if fr := a1.next(); fr.id != e3 || payloadOf(t, fr)["conversationId"] != convA1 {
		t.Errorf("conversation stream's first event = %+v, want %d", fr, e3)
	}
	if fr := b.next(); fr.id != e4 {
		t.Errorf("workspace B's first event = %+v, want its own %d (A's events leaked)", fr, e4)
	}
}

func TestConversationAuthorizationAndBadInput(t *testing.T) {
	f := newFixture(t, fixOpts{})
	wsA, wsB := uuid.NewString(), uuid.NewString()
	convB := f.conversation(wsB)
	expect := func(res *http.Response, status int, code string) {
		t.Helper()
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		if res.StatusCode != status || body["error"] != code || body["statusCode"] != float64(status) {
			t.Errorf("got %d %v, want %d %s", res.StatusCode, body, status, code)
		}
		if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			t.Error("an error answer started a stream")
		}
	}
	_, res := f.open(wsA, dial{query: "conversationId=" + convB})
	expect(res, 404, "NOT_FOUND")
	_, res = f.open(wsA, dial{query: "conversationId=not-a-uuid"})
	expect(res, 404, "NOT_FOUND")
	_, res = f.open(wsA, dial{noToken: true})
	expect(res, 401, "MISSING_TOKEN")
	_, res = f.open(wsA, dial{header: map[string]string{"Last-Event-ID": "abc"}})
	expect(res, 400, "VALIDATION_ERROR")
	if n := f.hub.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers after refused requests", n)
	}

	// The owner of convB may follow it, with the token in the query (EventSource).
	c, _ := f.open(wsB, dial{noToken: true, query: "conversationId=" + convB + "&access_token=" + f.token(wsB)})
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 1 })
	id := f.publish(wsB, convB, realtime.TypeConversationStatusChanged, map[string]string{"status": "HANDED_OFF"})
	if fr := c.next(); fr.id != id {
		t.Errorf("got %+v, want %d", fr, id)
	}
}

func TestLastEventIDReplaysThenContinuesLive(t *testing.T) {
	f := newFixture(t, fixOpts{})
	ws, other := uuid.NewString(), uuid.NewString()
	conv := f.conversation(ws)

	// An event older than the replay window is never replayed.
	var old int64
	if err := f.db.Get(&old, `INSERT INTO realtime_events (workspace_id, type, payload, created_at)
VALUES ($1, 'credits_updated', '{}', now() - interval '11 minutes') RETURNING id`, ws); err != nil {
		t.Fatal(err)
	}
	e1 := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 1})
	// Missed while disconnected:
	e2 := f.publish(ws, conv, realtime.TypeNewMessage, map[string]int{"n": 2})
	f.publish(other, "", realtime.TypeCreditsUpdated, map[string]int{"n": 0})
	e3 := f.publish(ws, "", realtime.TypeAgentStatusChanged, map[string]int{"n": 3})

	// e4 is published after the subscription and before the replay query: it is both
	// replayed and queued live, and must arrive once.
	var e4 int64
	f.hub.SetBeforeReplay(func() {
		e4 = f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 4})
		// Wait (in the handler's goroutine, so no t.Fatal) until e4 sits in the live queue.
		for deadline := time.Now().Add(15 * time.Second); f.hub.Stats().Delivered < 1 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	})
	c, _ := f.open(ws, dial{header: map[string]string{"Last-Event-ID": strconv.FormatInt(old-1, 10)}})
	got := c.ids(4)
	f.hub.SetBeforeReplay(nil)
	if want := []int64{e1, e2, e3, e4}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replay = %v, want %v (old %d outside the window)", got, want, old)
	}
	e5 := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 5})
	if fr := c.next(); fr.id != e5 {
		t.Fatalf("after the replay got %+v, want live %d (a duplicate of %d?)", fr, e5, e4)
	}

	// ?lastEventId= works too, with the conversation filter applied to the replay.
	cc, _ := f.open(ws, dial{query: "lastEventId=" + strconv.FormatInt(e1, 10) + "&conversationId=" + conv})
	if fr := cc.next(); fr.id != e2 {
		t.Fatalf("conversation replay got %+v, want %d", fr, e2)
	}
	e6 := f.publish(ws, conv, realtime.TypeNewMessage, map[string]int{"n": 6})
	if fr := cc.next(); fr.id != e6 {
		t.Fatalf("conversation stream got %+v, want %d", fr, e6)
	}
}

func TestLargePayloadDeliveredWhole(t *testing.T) {
	f := newFixture(t, fixOpts{})
	ws := uuid.NewString()
	c, _ := f.open(ws, dial{})
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 1 })
	big := strings.Repeat("ü-0123456789", 2000) // ~26 KB of JSON, multi-byte
	small := f.publish(ws, "", realtime.TypeNewMessage, map[string]string{"content": "small"})
	id := f.publish(ws, "", realtime.TypeNewMessage, map[string]string{"content": big})
	after := f.publish(ws, "", realtime.TypeNewMessage, map[string]string{"content": "after"})
	for _, want := range []struct {
		id      int64
		content string
	}{{small, "small"}, {id, big}, {after, "after"}} {
		fr := c.next()
		if fr.id != want.id || payloadOf(t, fr)["content"] != want.content {
			t.Fatalf("got event %d (%d bytes), want %d with its whole payload", fr.id, len(fr.data), want.id)
		}
	}
}

func TestSlowClientDroppedFastClientComplete(t *testing.T) {
	// Small socket buffers, so the slow client's stream blocks after a few kilobytes and its
	// queue of 4 fills.
	f := newFixture(t, fixOpts{hub: realtime.HubOptions{Buffer: 4}, sndBuf: 4096})
	ws := uuid.NewString()
	slow, _ := f.open(ws, dial{rcvBuf: 4096, noRead: true})
	fast, _ := f.open(ws, dial{})
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 2 })

	chunk := strings.Repeat("x", 5000) // inline: each frame ~5 KB
	for i := 0; i < 60; i++ {
		id := f.publish(ws, "", realtime.TypeNewMessage, map[string]any{"i": i, "content": chunk})
		// Lock-step with the fast client, so only the slow one can fall behind.
		if fr := fast.next(); fr.id != id {
			t.Fatalf("fast client got %d, want %d", fr.id, id)
		}
	}
	if st := f.hub.Stats(); st.Dropped != 1 || st.Subscribers != 1 {
		t.Fatalf("stats = %+v, want the slow client dropped and the fast one kept", st)
	}
	if !strings.Contains(f.logs.String(), "slow client dropped") {
		t.Error("no log line for the dropped client")
	}
	// The slow client's stream is closed: reading it now reaches its end.
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, slow.res.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the dropped client's stream is still open")
	}
	last := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"balance": 1})
	if fr := fast.next(); fr.id != last {
		t.Fatalf("fast client after the drop got %d, want %d", fr.id, last)
	}
}

func TestHubDropsFullSubscriberOnly(t *testing.T) {
	f := newFixture(t, fixOpts{hub: realtime.HubOptions{Buffer: 2}})
	ws := uuid.NewString()
	stuck, err := f.hub.Subscribe(ws, "")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := f.hub.Subscribe(ws, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		id := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"i": i})
		select {
		case d := <-reader.C():
			if d.ID != id {
				t.Fatalf("reader got %d, want %d", d.ID, id)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("reader got nothing")
		}
	}
	select {
	case <-stuck.Done():
	default:
		t.Fatal("the subscriber that read nothing was not dropped")
	}
	if !stuck.Dropped() || reader.Dropped() || len(stuck.C()) != 2 {
		t.Errorf("dropped: stuck %v reader %v; stuck queue %d", stuck.Dropped(), reader.Dropped(), len(stuck.C()))
	}
}

func TestHubCatchesUpAfterListenConnectionKilled(t *testing.T) {
	f := newFixture(t, fixOpts{})
	ws := uuid.NewString()
	c, _ := f.open(ws, dial{})
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 1 })
	before := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 0})
	if fr := c.next(); fr.id != before {
		t.Fatalf("got %d, want %d", fr.id, before)
	}

	pid := f.hub.ListenerPID()
	if pid == 0 {
		t.Fatal("no LISTEN connection")
	}
	// Events committed while the hub has no connection; it reconnects only afterwards.
	var missed []int64
	published := make(chan struct{})
	f.hub.SetBeforeReconnect(func() { <-published })
	var ok bool
	if err := f.db.Get(&ok, `SELECT pg_terminate_backend($1, 10000)`, int(pid)); err != nil || !ok {
		t.Fatalf("pg_terminate_backend: %v %v", ok, err)
	}
	for i := 1; i <= 3; i++ {
		missed = append(missed, f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": i}))
	}
	close(published)
	eventually(t, "reconnected", func() bool { return f.hub.Stats().Reconnects == 1 && f.hub.ListenerPID() != 0 })
	if f.hub.ListenerPID() == pid {
		t.Error("the listener pid did not change")
	}
	live := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 4})
	got := c.ids(4)
	if want := append(missed, live); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reconnect got %v, want %v (catch-up, no duplicate of %d)", got, want, before)
	}
}

func TestIdleListenConnectionIsPingedNotReplaced(t *testing.T) {
	f := newFixture(t, fixOpts{hub: realtime.HubOptions{Health: 50 * time.Millisecond, Ping: 20 * time.Millisecond}, srvTimeout: 300 * time.Millisecond})
	ws := uuid.NewString()
	c, _ := f.open(ws, dial{})
	// Several health intervals and several server write timeouts pass.
	pings := 0
	for pings < 30 {
		fr, ok := <-c.frames
		if !ok {
			t.Fatal("the stream ended (server WriteTimeout not cleared?)")
		}
		if fr.event == "comment" && fr.data == ": ping" {
			pings++
		}
	}
	id := f.publish(ws, "", realtime.TypeCreditsUpdated, map[string]int{"n": 1})
	if fr := c.next(); fr.id != id {
		t.Fatalf("got %+v, want %d", fr, id)
	}
	if st := f.hub.Stats(); st.Reconnects != 0 {
		t.Errorf("the idle LISTEN connection was replaced %d times", st.Reconnects)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	f := newFixture(t, fixOpts{})
	ws := uuid.NewString()
	c, _ := f.open(ws, dial{})
	if r := <-c.retry; r != "2000" { // the hint at the start of the stream
		t.Errorf("first retry hint = %q", r)
	}
	eventually(t, "subscribed", func() bool { return f.hub.Stats().Subscribers == 1 })
	f.hub.Close()
	c.ended()
	// The last frame is a retry hint in [Retry/2, 3·Retry/2), so clients reconnect to
	// another replica soon, and not all at once.
	select {
	case r := <-c.retry:
		if ms, err := strconv.Atoi(r); err != nil || ms < 1000 || ms >= 3000 {
			t.Errorf("retry hint at close = %q, want 1000..2999", r)
		}
	default:
		t.Error("the stream ended without a retry hint")
	}
	if _, err := f.hub.Subscribe(ws, ""); !errors.Is(err, realtime.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	_, res := f.open(ws, dial{})
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %d", res.StatusCode)
	}
	res.Body.Close()
}
