package analytics

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

type handlers struct{ svc *Service }

// query reads ?from, ?to, ?interval and the agent (?agentId, or the :id path parameter).
func (h *handlers) query(c echo.Context, agentID string) (Query, error) {
	r, err := ParseRange(c.QueryParam("from"), c.QueryParam("to"), h.svc.now())
	if err != nil {
		return Query{}, err
	}
	if agentID != "" && !web.IsUUID(agentID) {
		return Query{}, apperr.NotFoundf("Agent")
	}
	return Query{WorkspaceID: authn.MustGet(c).WorkspaceID, AgentID: agentID, Range: r, Interval: c.QueryParam("interval")}, nil
}

// report is GET /v1/analytics.
func (h *handlers) report(c echo.Context) error {
	q, err := h.query(c, c.QueryParam("agentId"))
	if err != nil {
		return err
	}
	rep, err := h.svc.Report(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

type handoffQuestionDTO struct {
	HandoffID      string    `json:"handoffId"`
	ConversationID string    `json:"conversationId"`
	Trigger        string    `json:"trigger"`
	CreatedAt      time.Time `json:"createdAt"`
	Question       *string   `json:"question"`
}

type agentReportDTO struct {
	Report
	AgentID          string               `json:"agentId"`
	TopTags          []TagCount           `json:"topTags"`
	HandoffQuestions []handoffQuestionDTO `json:"handoffQuestions"`
}

// agent is GET /v1/analytics/agents/:id.
func (h *handlers) agent(c echo.Context) error {
	q, err := h.query(c, c.Param("id"))
	if err != nil {
		return err
	}
	rep, err := h.svc.Agent(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := agentReportDTO{Report: rep.Report, AgentID: q.AgentID, TopTags: rep.TopTags, HandoffQuestions: make([]handoffQuestionDTO, len(rep.HandoffQuestions))}
	for i, hq := range rep.HandoffQuestions {
		out.HandoffQuestions[i] = handoffQuestionDTO{HandoffID: hq.HandoffID, ConversationID: hq.ConversationID, Trigger: hq.Trigger, CreatedAt: hq.CreatedAt.UTC(), Question: hq.Question}
	}
	return c.JSON(http.StatusOK, out)
}

// FlushEvery is how many exported rows are written between two flushes to the client.
const FlushEvery = 500

// exportWriteWindow is how long the client has to take each batch of rows: the write
// deadline moves forward at every flush, so a year's export is not cut by the server's
// write timeout while a stalled client still is.
const exportWriteWindow = 2 * time.Minute

// export is GET /v1/analytics/export: one row per message, CSV or a JSON array, streamed
// as the database cursor yields rows and flushed every FlushEvery rows.
func (h *handlers) export(c echo.Context) error {
	format := c.QueryParam("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		return apperr.ValidationFields(map[string]string{"format": "must be csv or json"})
	}
	r, err := ParseRange(c.QueryParam("from"), c.QueryParam("to"), h.svc.now())
	if err != nil {
		return err
	}
	return h.stream(c, authn.MustGet(c).WorkspaceID, r, format)
}

// stream writes the export of the workspace's messages in r as format (csv or json).
func (h *handlers) stream(c echo.Context, ws string, r Range, format string) error {
	name := fmt.Sprintf("axon-messages-%s-%s.%s", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), format)
	res := c.Response()
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", name))
	res.Header().Set("Cache-Control", "no-store")
	var w rowWriter
	if format == "csv" {
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		w = &csvRows{w: csv.NewWriter(res)}
	} else {
		res.Header().Set(echo.HeaderContentType, "application/json; charset=UTF-8") // as before; clients see the charset
		w = &jsonRows{w: res}
	}
	ctx := c.Request().Context()
	n := 0
	flush := func() error {
		if err := w.flush(); err != nil {
			return err
		}
		if err := web.ExtendWrite(c, exportWriteWindow); err != nil {
			return err
		}
		res.Flush()
		return nil
	}
	started := false
	err := h.svc.Export(ctx, ws, r, func(row *ExportRow) error {
		if !started {
			started = true
			res.WriteHeader(http.StatusOK)
			if err := w.begin(); err != nil {
				return err
			}
		}
		if err := w.row(row); err != nil {
			return err
		}
		n++
		if n%FlushEvery == 0 {
			return flush()
		}
		return nil
	})
	if err != nil && !started {
		return err // nothing written yet: the error handler answers
	}
	if err != nil {
		// The status is sent: cut the stream (the client sees a truncated body: no closing
		// bracket in JSON) and log why.
		h.svc.log.ErrorContext(ctx, "analytics export interrupted", "rows", n, "error", err)
		return nil
	}
	if !started {
		res.WriteHeader(http.StatusOK)
		if err := w.begin(); err != nil {
			return nil
		}
	}
	if err := w.end(); err != nil {
		return nil
	}
	_ = flush()
	return nil
}

// rowWriter writes one export format.
type rowWriter interface {
	begin() error
	row(r *ExportRow) error
	end() error
	flush() error
}

var csvHeader = []string{"createdAt", "conversationId", "agentId", "channelType", "role", "content", "confidence", "latencyMs", "handedOff"}

type csvRows struct {
	w   *csv.Writer
	rec [9]string
}

func (c *csvRows) begin() error { return c.w.Write(csvHeader) }

func (c *csvRows) row(r *ExportRow) error {
	c.rec = [9]string{
		r.CreatedAt.UTC().Format(time.RFC3339Nano), r.ConversationID, r.AgentID, r.ChannelType, r.Role,
		SafeCell(r.Content), "", "", strconv.FormatBool(r.HandedOff),
	}
	if r.Confidence != nil {
		c.rec[6] = strconv.FormatFloat(*r.Confidence, 'f', -1, 64)
	}
	if r.LatencyMs != nil {
		c.rec[7] = strconv.Itoa(*r.LatencyMs)
	}
	return c.w.Write(c.rec[:])
}

func (c *csvRows) end() error { return nil }

func (c *csvRows) flush() error {
	c.w.Flush()
	return c.w.Error()
}

// SafeCell defends a CSV cell against formula injection: a cell a spreadsheet would run as a
// formula (starting with =, +, -, @, a tab or a carriage return) is prefixed with a quote.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

type exportJSON struct {
	CreatedAt      time.Time `json:"createdAt"`
	ConversationID string    `json:"conversationId"`
	AgentID        string    `json:"agentId"`
	ChannelType    string    `json:"channelType"`
	Role           string    `json:"role"`
	Content        string    `json:"content"`
	Confidence     *float64  `json:"confidence"`
	LatencyMs      *int      `json:"latencyMs"`
	HandedOff      bool      `json:"handedOff"`
}

// jsonRows writes a JSON array one element at a time.
type jsonRows struct {
	w     *echo.Response
	first bool
	enc   *json.Encoder
}

func (j *jsonRows) begin() error {
	j.first = true
	j.enc = json.NewEncoder(j.w)
	_, err := j.w.Write([]byte("["))
	return err
}

func (j *jsonRows) row(r *ExportRow) error {
	if !j.first {
		if _, err := j.w.Write([]byte(",")); err != nil {
			return err
		}
	}
	j.first = false
	return j.enc.Encode(exportJSON{
		CreatedAt: r.CreatedAt.UTC(), ConversationID: r.ConversationID, AgentID: r.AgentID,
		ChannelType: r.ChannelType, Role: r.Role, Content: r.Content,
		Confidence: r.Confidence, LatencyMs: r.LatencyMs, HandedOff: r.HandedOff,
	})
}

func (j *jsonRows) end() error {
	_, err := j.w.Write([]byte("]\n"))
	return err
}

func (j *jsonRows) flush() error { return nil }

type notificationDTO struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	ConversationID string    `json:"conversationId"`
	AgentID        string    `json:"agentId"`
	ChannelType    string    `json:"channelType"`
	CustomerName   *string   `json:"customerName"`
	Trigger        *string   `json:"trigger,omitempty"`
	Summary        *string   `json:"summary,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
}

// notifications is GET /v1/notifications.
func (h *handlers) notifications(c echo.Context) error {
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	rows, err := h.svc.Notifications(c.Request().Context(), authn.MustGet(c).WorkspaceID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page.Cut(req, rows, func(n Notification) page.Key {
		return page.Key{Time: n.CreatedAt, ID: n.ID}
	}, func(n Notification) notificationDTO {
		return notificationDTO{
			ID: n.ID, Type: n.Kind, ConversationID: n.ConversationID, AgentID: n.AgentID, ChannelType: n.ChannelType,
			CustomerName: n.CustomerName, Trigger: n.Trigger, Summary: n.Summary, CreatedAt: n.CreatedAt.UTC(),
		}
	}))
}
