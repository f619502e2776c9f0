package realtime

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
)

// AuthorizeFunc checks that conversationID belongs to workspaceID; the module owning
// conversations passes it and answers apperr NOT_FOUND otherwise.
type AuthorizeFunc func(ctx context.Context, workspaceID, conversationID string) error

// replayPage is how many rows one replay query reads.
const replayPage = 500

// Handler serves GET /v1/events as Server-Sent Events for the caller's workspace (the route's
// middleware authenticates; ?access_token= is accepted there for EventSource). Optional
// ?conversationId= narrows the stream to one conversation after authorize accepts it (a
// conversation of another workspace is 404 before the stream starts). Last-Event-ID (header,
// or ?lastEventId=) replays the workspace's events after that id from the replay window, then
// the stream continues live: the subscription is taken before the replay and live events
// the replay already sent are skipped by id.
func (h *Hub) Handler(authorize AuthorizeFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := authn.Get(c)
		if !ok || p.WorkspaceID == "" {
			return apperr.E(apperr.MissingToken, "Authentication required")
		}
		ctx := c.Request().Context()
		conv := c.QueryParam("conversationId")
		if conv != "" {
			if _, err := uuid.Parse(conv); err != nil || authorize == nil {
				return apperr.NotFoundf("Conversation")
			}
			if err := authorize(ctx, p.WorkspaceID, conv); err != nil {
				return err
			}
		}
		var last int64 = -1
		raw := c.Request().Header.Get("Last-Event-ID")
		if raw == "" {
			raw = c.QueryParam("lastEventId")
		}
		if raw != "" {
			v, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || v < 0 {
				return apperr.E(apperr.Validation, "Last-Event-ID must be an event id")
			}
			last = v
		}

		sub, err := h.Subscribe(p.WorkspaceID, conv)
		if err != nil {
			return apperr.E(apperr.ServiceUnavailable, "The server is shutting down; reconnect")
		}
		defer h.Unsubscribe(sub)
		return h.stream(c, sub, last)
	}
}

// stream writes the SSE response until the client leaves, the subscription ends or the hub
// closes.
func (h *Hub) stream(c echo.Context, sub *Subscription, last int64) error {
	ctx := c.Request().Context()
	res := c.Response()
	rc := http.NewResponseController(res)
	// A server WriteTimeout would cut the stream: each write gets its own deadline instead.
	deadline := func(t time.Time) {
		if err := rc.SetWriteDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
			h.o.Log.Debug("realtime: cannot set the write deadline", "err", err)
		}
	}
	deadline(time.Time{})

	// A dropped (slow) subscriber's stream is closed at once, even mid-write.
	finished := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-sub.Done():
			if sub.Dropped() {
				deadline(time.Now())
			}
		case <-finished:
		}
	}()
	defer func() { close(finished); <-watcher }()

	hdr := res.Header()
	hdr.Set(echo.HeaderContentType, "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	flush := func() error {
		deadline(time.Now().Add(h.o.WriteTimeout))
		_, err := res.Write(buf.Bytes())
		buf.Reset()
		if err != nil {
			return err
		}
		return rc.Flush()
	}
	buf.WriteString("retry: " + strconv.FormatInt(h.o.Retry.Milliseconds(), 10) + "\n\n")
	if err := flush(); err != nil {
		return nil
	}

	var replayed map[int64]struct{}
	if last >= 0 {
		runHook(&h.beforeReplay)
		replayed = map[int64]struct{}{}
		after := last
		for {
			page, err := h.st.replay(ctx, h.o.DB, sub.ws, sub.conv, after, h.o.Replay, replayPage)
			if err != nil {
				if ctx.Err() == nil {
					h.o.Log.Error("realtime: replay failed", "err", err)
				}
				return nil // the client reconnects with the same Last-Event-ID
			}
			for _, d := range page {
				replayed[d.ID] = struct{}{}
				writeFrame(&buf, d)
				after = d.ID
			}
			if len(page) > 0 {
				if err := flush(); err != nil {
					return nil
				}
			}
			if len(page) < replayPage {
				break
			}
		}
	}

	ping := time.NewTicker(h.o.Ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			if !sub.Dropped() {
				// The hub closed (the replica is shutting down): the last frame tells
				// EventSource when to reconnect, to another replica behind the load balancer.
				buf.WriteString("retry: " + strconv.FormatInt(h.shutdownRetry().Milliseconds(), 10) + "\n\n")
				_ = flush()
			}
			return nil
		case <-ping.C:
			buf.WriteString(": ping\n\n")
		case d := <-sub.C():
			if _, dup := replayed[d.ID]; dup {
				continue
			}
			writeFrame(&buf, d)
			// Whatever else is already queued goes out in the same write.
		more:
			for buf.Len() < 64<<10 {
				select {
				case d := <-sub.C():
					if _, dup := replayed[d.ID]; !dup {
						writeFrame(&buf, d)
					}
				default:
					break more
				}
			}
		}
		if err := flush(); err != nil {
			return nil
		}
	}
}

// shutdownRetry is the reconnection delay of the last frame of a stream closed by a
// shutdown: uniformly random in [Retry/2, 3·Retry/2), so a replica's clients do not all
// reconnect to the remaining replicas in the same instant.
func (h *Hub) shutdownRetry() time.Duration {
	return h.o.Retry/2 + rand.N(h.o.Retry)
}

// writeFrame appends one SSE event: id, event type and the payload JSON on data lines.
func writeFrame(buf *bytes.Buffer, d *Delivery) {
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatInt(d.ID, 10))
	buf.WriteString("\nevent: ")
	buf.WriteString(d.Type)
	buf.WriteByte('\n')
	payload := d.Payload
	for {
		i := bytes.IndexByte(payload, '\n')
		buf.WriteString("data: ")
		if i < 0 {
			buf.Write(bytes.TrimSuffix(payload, []byte("\r")))
			buf.WriteByte('\n')
			break
		}
		buf.Write(bytes.TrimSuffix(payload[:i], []byte("\r")))
		buf.WriteByte('\n')
		payload = payload[i+1:]
	}
	buf.WriteByte('\n')
}
