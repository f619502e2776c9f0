package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
)

// HubOptions configures a Hub. Zero values take the defaults.
type HubOptions struct {
	// DB reads event rows (the pool).
	DB sqlx.ExtContext
	// URL is the database URL of the LISTEN connection (DATABASE_URL without pool parameters).
	URL string
	Log *slog.Logger
	// Buffer is each subscriber's queue length (default 256). A subscriber whose queue is full
	// when an event arrives is dropped.
	Buffer int
	// Ping is the interval of SSE ": ping" comments (default 15 s).
	Ping time.Duration
	// Retry is the reconnection delay hinted to EventSource clients (default 2 s).
	Retry time.Duration
	// WriteTimeout bounds each SSE write (default 30 s): a client that stops reading is cut off.
	WriteTimeout time.Duration
	// Replay is how far back Last-Event-ID reaches (default 10 minutes, the table's retention).
	Replay time.Duration
	// MinBackoff and MaxBackoff bound the LISTEN reconnection delay (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// Health is how long the LISTEN connection may stay silent before it is pinged (default 30 s).
	Health time.Duration
}

func (o *HubOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	def(&o.Ping, 15*time.Second)
	def(&o.Retry, 2*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	def(&o.Replay, 10*time.Minute)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	def(&o.Health, 30*time.Second)
}

// catchUpMargin is how far before the last sign of life of a lost LISTEN connection the
// catch-up reads. created_at is the publishing transaction's start, so an event whose
// transaction ran longer than this and committed while the hub was disconnected is missed
// (clients still get it through Last-Event-ID replay when they reconnect).
const catchUpMargin = time.Minute

// seenTTL is how long the hub remembers delivered ids to drop the duplicates a catch-up
// finds.
const seenTTL = 5 * time.Minute

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("realtime: hub closed")

// Hub is one serve replica's fan-out: a single LISTEN connection on Channel, reconnected with
// backoff (catching up from realtime_events so no committed event is missed), and
// subscribers filtered by workspace and optionally conversation, each with a bounded queue.
type Hub struct {
	o  HubOptions
	st store

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	pending chan item

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool

	pid                                      atomic.Uint32
	delivered, dropped, reconnects, received atomic.Int64

	// Test hooks (export_test.go): run between Subscribe and the replay query, and before
	// each reconnection attempt.
	beforeReplay, beforeReconnect atomic.Pointer[func()]
}

func runHook(p *atomic.Pointer[func()]) {
	if f := p.Load(); f != nil && *f != nil {
		(*f)()
	}
}

// item is one unit of the dispatcher's work: an event notification, or (catchUp non-zero) a
// catch-up after a reconnection.
type item struct {
	n       Notification
	catchUp time.Time
}

// NewHub builds a hub; Start connects it.
func NewHub(o HubOptions) *Hub {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		o: o, ctx: ctx, cancel: cancel,
		pending: make(chan item, 4096),
		subs:    map[string]map[*Subscription]struct{}{},
	}
}

// Start opens the LISTEN connection (failing when it cannot) and runs the hub until Close.
func (h *Hub) Start(ctx context.Context) error {
	conn, err := h.connect(ctx)
	if err != nil {
		return err
	}
	h.wg.Add(2)
	go h.listen(conn)
	go h.dispatch()
	return nil
}

// Close stops the hub and ends every subscription (their SSE streams return). It is
// idempotent and waits for the hub's goroutines.
func (h *Hub) Close() {
	h.once.Do(func() {
		h.cancel()
		h.mu.Lock()
		h.closed = true
		for _, set := range h.subs {
			for s := range set {
				s.end(false)
			}
		}
		h.subs = map[string]map[*Subscription]struct{}{}
		h.mu.Unlock()
	})
	h.wg.Wait()
}

// Stats are counters of the hub's life.
type Stats struct {
	Subscribers int
	// Received counts notifications, Delivered events queued to subscribers.
	Received, Delivered int64
	// Dropped counts subscribers removed because their queue was full.
	Dropped int64
	// Reconnects counts re-established LISTEN connections.
	Reconnects int64
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	h.mu.Unlock()
	return Stats{
		Subscribers: n, Received: h.received.Load(), Delivered: h.delivered.Load(),
		Dropped: h.dropped.Load(), Reconnects: h.reconnects.Load(),
	}
}

// ListenerPID is the backend pid of the LISTEN connection, 0 while disconnected.
func (h *Hub) ListenerPID() uint32 { return h.pid.Load() }

// Subscription receives a workspace's events (only one conversation's when conversationID
// is set) until it ends.
type Subscription struct {
	ws, conv string
	ch       chan *Delivery
	done     chan struct{}
	ended    atomic.Bool
	slow     atomic.Bool
}

// C delivers the events, in the order their notifications arrived.
func (s *Subscription) C() <-chan *Delivery { return s.ch }

// Done is closed when the subscription ends (Unsubscribe, a full queue, or Close).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped reports whether the hub ended the subscription because its queue was full.
func (s *Subscription) Dropped() bool { return s.slow.Load() }

// end closes done once; the caller holds the hub's lock.
func (s *Subscription) end(slow bool) {
	if s.ended.CompareAndSwap(false, true) {
		s.slow.Store(slow)
		close(s.done)
	}
}

// Subscribe registers a subscriber. Events published before it may still arrive if their
// notification was being dispatched; callers that replay deduplicate by id.
func (h *Hub) Subscribe(workspaceID, conversationID string) (*Subscription, error) {
	s := &Subscription{ws: workspaceID, conv: conversationID, ch: make(chan *Delivery, h.o.Buffer), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	set := h.subs[workspaceID]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.subs[workspaceID] = set
	}
	set[s] = struct{}{}
	return s, nil
}

// Unsubscribe removes s; it is safe to call more than once.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
	s.end(false)
}

func (h *Hub) removeLocked(s *Subscription) {
	if set := h.subs[s.ws]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, s.ws)
		}
	}
}

// deliver queues d to every matching subscriber; one whose queue is full is dropped.
func (h *Hub) deliver(d *Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[d.WorkspaceID] {
		if s.conv != "" && s.conv != d.ConversationID {
			continue
		}
		select {
		case s.ch <- d:
			h.delivered.Add(1)
		default:
			h.removeLocked(s)
			s.end(true)
			h.dropped.Add(1)
			h.o.Log.Warn("realtime: slow client dropped (its event queue is full)",
				"workspaceId", s.ws, "conversationId", s.conv, "queue", cap(s.ch), "eventId", d.ID)
		}
	}
}

// connect opens the LISTEN connection. Its context watcher interrupts a wait by deadline, not
// by a cancel request, so the periodic wake-up never cancels a later statement.
func (h *Hub) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(h.o.URL)
	if err != nil {
		return nil, errors.New("realtime: bad database URL")
	}
	cfg.RuntimeParams["application_name"] = "axon-realtime"
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	h.pid.Store(conn.PgConn().PID())
	return conn, nil
}

// listen receives notifications until the connection fails, then reconnects with backoff and
// queues a catch-up from a little before the connection's last sign of life.
func (h *Hub) listen(conn *pgx.Conn) {
	defer h.wg.Done()
	alive := time.Now()
	for {
		err := h.receive(conn, &alive)
		h.pid.Store(0)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		if h.ctx.Err() != nil {
			return
		}
		h.o.Log.Warn("realtime: LISTEN connection lost; reconnecting", "err", err)
		backoff := h.o.MinBackoff
		for {
			select {
			case <-h.ctx.Done():
				return
			case <-time.After(backoff):
			}
			runHook(&h.beforeReconnect)
			conn, err = h.connect(h.ctx)
			if err == nil {
				break
			}
			if h.ctx.Err() != nil {
				return
			}
			h.o.Log.Warn("realtime: LISTEN reconnection failed", "err", err, "retryIn", backoff.String())
			backoff = min(backoff*2, h.o.MaxBackoff)
		}
		h.reconnects.Add(1)
		h.o.Log.Info("realtime: LISTEN connection restored; catching up", "since", alive.Add(-catchUpMargin))
		if !h.enqueue(item{catchUp: alive.Add(-catchUpMargin)}) {
			return
		}
	}
}

// receive waits for notifications; a silent connection is pinged every Health interval.
func (h *Hub) receive(conn *pgx.Conn, alive *time.Time) error {
	for {
		wctx, cancel := context.WithTimeout(h.ctx, h.o.Health)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			*alive = time.Now()
			h.received.Add(1)
			parsed, perr := ParseNotification(n.Payload)
			if perr != nil {
				h.o.Log.Warn("realtime: ignoring a notification", "err", perr)
			} else if !h.enqueue(item{n: parsed}) {
				return h.ctx.Err()
			}
		}
		if err == nil {
			continue
		}
		if h.ctx.Err() != nil {
			return h.ctx.Err()
		}
		if !pgconn.Timeout(err) || conn.IsClosed() {
			return err
		}
		pctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
		*alive = time.Now()
	}
}

func (h *Hub) enqueue(it item) bool {
	select {
	case h.pending <- it:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// dispatch takes notifications in arrival (commit) order, in batches of whatever is queued,
// reads the rows of those that carried only an id with one query, and delivers each event
// once.
func (h *Hub) dispatch() {
	defer h.wg.Done()
	seen := map[int64]time.Time{}
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	batch := make([]item, 0, 256)
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-prune.C:
			for id, at := range seen {
				if now.Sub(at) > seenTTL {
					delete(seen, id)
				}
			}
		case it := <-h.pending:
			batch = append(batch[:0], it)
		drain:
			for len(batch) < cap(batch) {
				select {
				case it := <-h.pending:
					batch = append(batch, it)
				default:
					break drain
				}
			}
			h.process(batch, seen)
		}
	}
}

func (h *Hub) process(batch []item, seen map[int64]time.Time) {
	var ids []int64
	for _, it := range batch {
		if it.catchUp.IsZero() && !it.n.Inline {
			ids = append(ids, it.n.ID)
		}
	}
	var rows map[int64]*Delivery
	if len(ids) > 0 {
		err := h.retry(func(ctx context.Context) (err error) {
			rows, err = h.st.byIDs(ctx, h.o.DB, ids)
			return err
		})
		if err != nil {
			h.o.Log.Error("realtime: events not delivered (their rows could not be read)", "err", err, "ids", len(ids))
		}
	}
	now := time.Now()
	send := func(d *Delivery) {
		if _, dup := seen[d.ID]; dup {
			return
		}
		seen[d.ID] = now
		h.deliver(d)
	}
	for _, it := range batch {
		switch {
		case !it.catchUp.IsZero():
			h.catchUp(it.catchUp, send)
		case it.n.Inline:
			d := it.n.Event
			send(&d)
		default:
			if d := rows[it.n.ID]; d != nil {
				send(d)
			}
		}
	}
}

// catchUp delivers every event created since since that was not delivered yet.
func (h *Hub) catchUp(since time.Time, send func(*Delivery)) {
	var after int64
	for {
		var page []*Delivery
		err := h.retry(func(ctx context.Context) (err error) {
			page, err = h.st.since(ctx, h.o.DB, since, after, 500)
			return err
		})
		if err != nil {
			h.o.Log.Error("realtime: catch-up failed; events committed while disconnected may be missing", "err", err)
			return
		}
		for _, d := range page {
			send(d)
			after = d.ID
		}
		if len(page) < 500 {
			return
		}
	}
}

// retry runs fn until it succeeds, for at most about 30 s.
func (h *Hub) retry(fn func(ctx context.Context) error) error {
	wait := 50 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil || h.ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		h.o.Log.Warn("realtime: reading events failed; retrying", "err", err)
		select {
		case <-h.ctx.Done():
			return h.ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// Collectors are Prometheus views of Stats.
func (h *Hub) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "axon_realtime_subscribers", Help: "Open event streams on this replica."},
			func() float64 { return float64(h.Stats().Subscribers) }),
		counter("axon_realtime_notifications_total", "Event notifications received on the LISTEN connection.", &h.received),
		counter("axon_realtime_deliveries_total", "Events queued to subscribers.", &h.delivered),
		counter("axon_realtime_dropped_total", "Slow subscribers dropped because their queue was full.", &h.dropped),
		counter("axon_realtime_reconnects_total", "LISTEN connections re-established.", &h.reconnects),
	}
}
