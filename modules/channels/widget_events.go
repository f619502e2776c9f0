package channels

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/realtime"
)

// widgetEventTypes are the events a widget visitor may see about their own conversation:
// messages (a human agent's reply arrives without a reload) and status changes. Handoff
// events carry the internal summary and are not sent.
var widgetEventTypes = map[string]bool{
	realtime.TypeNewMessage:                true,
	realtime.TypeUserMessage:               true,
	realtime.TypeConversationStatusChanged: true,
}

// widgetStreamMax recycles a visitor's event stream; EventSource reconnects by itself.
const widgetStreamMax = 30 * time.Minute

// widgetEvents answers GET /v1/widget/:agentId/events: the session's conversation's events
// as Server-Sent Events (`id`, `event`, `data` frames and a `: ping` comment while idle),
// live from this replica's hub. The token may come as ?session_token= for EventSource. A
// client that reconnects reads what it missed from the history route.
func (h *surfaces) widgetEvents(hub *realtime.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		cl := c.Get(ctxWidgetClaims).(authn.WidgetClaims)
		sub, err := hub.Subscribe(cl.WorkspaceID, cl.ConversationID)
		if err != nil {
			return apperr.E(apperr.ServiceUnavailable, "The server is shutting down; reconnect")
		}
		defer hub.Unsubscribe(sub)
		ctx, cancel := context.WithTimeout(c.Request().Context(), widgetStreamMax)
		defer cancel()

		res := c.Response()
		rc := http.NewResponseController(res)
		deadline := func(t time.Time) {
			if err := rc.SetWriteDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
				h.log.Debug("channels: widget events: cannot set the write deadline", "err", err)
			}
		}
		hdr := res.Header()
		hdr.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
		res.WriteHeader(http.StatusOK)
		write := func(frame []byte) bool {
			// A visitor that stops reading is cut off instead of holding the hub's queue.
			deadline(time.Now().Add(30 * time.Second))
			if _, err := res.Write(frame); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !write([]byte("retry: 3000\n\n")) {
			return nil
		}
		ping := time.NewTicker(h.PingEvery)
		defer ping.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sub.Done():
				return nil
			case <-ping.C:
				if !write([]byte(": ping\n\n")) {
					return nil
				}
			case d := <-sub.C():
				if !widgetEventTypes[d.Type] || d.ConversationID != cl.ConversationID {
					continue
				}
				frame := make([]byte, 0, len(d.Payload)+64)
				frame = append(frame, "id: "...)
				frame = strconv.AppendInt(frame, d.ID, 10)
				frame = append(frame, "\nevent: "...)
				frame = append(frame, d.Type...)
				frame = append(frame, "\ndata: "...)
				// Payloads are JSON on one line (json.Marshal's output, or jsonb's text for
				// events built in SQL: realtime.EventCTE).
				frame = append(frame, d.Payload...)
				frame = append(frame, "\n\n"...)
				if !write(frame) {
					return nil
				}
			}
		}
	}
}
