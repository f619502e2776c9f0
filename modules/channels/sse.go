package channels

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/platform/apperr"
)

// Stream timing defaults: a comment line keeps proxies and browsers from closing an idle
// stream while the answer is prepared, and one answer never holds a connection longer than
// streamMaxDuration.
const (
	defaultPingEvery  = 15 * time.Second
	streamMaxDuration = 2 * time.Minute
)

// chunk is one OpenAI-compatible chat.completion.chunk frame, with Axon's conversation id
// on every frame and Axon's answer facts on the last one.
type chunk struct {
	ID             string        `json:"id"`
	Object         string        `json:"object"`
	Created        int64         `json:"created"`
	Model          string        `json:"model"`
	ConversationID string        `json:"conversationId"`
	Choices        []chunkChoice `json:"choices"`
	Axon           *streamFinal  `json:"axon,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// streamFinal is the "axon" object of the last chunk: what the JSON answer carries besides
// the content.
type streamFinal struct {
	Confidence *float64          `json:"confidence"`
	Handoff    *HandoffRef       `json:"handoff"`
	Sources    []agentapi.Source `json:"sources"`
	MessageID  string            `json:"messageId,omitempty"`
	Role       string            `json:"role,omitempty"` // ASSISTANT, or SYSTEM for a canned or handoff text
	LatencyMs  *int              `json:"latencyMs,omitempty"`
	// Content is set only when the stored message differs from the streamed text (a
	// handoff text replaced the streamed answer); clients show it instead.
	Content *string `json:"content,omitempty"`
}

// sseStream writes one answer as Server-Sent Events. Nothing is written until the first
// frame (a delta, a ping or the end), so an error found before then (402 at 0 credits, 404)
// is still answered as a plain JSON error response. Writes are serialised: the pipeline
// calls Delta from its goroutine while the pinger runs in another.
type sseStream struct {
	w    http.ResponseWriter
	base chunk

	mu      sync.Mutex
	started bool
	closed  bool
	werr    error // the first write error; the client is gone

	stopPing chan struct{}
	pingDone chan struct{}
}

// newSSEStream prepares a stream for conversationID. model names the answering model in
// the frames, as OpenAI clients expect.
func newSSEStream(w http.ResponseWriter, id, model, conversationID string, now time.Time) *sseStream {
	return &sseStream{
		w: w,
		base: chunk{
			ID: id, Object: "chat.completion.chunk", Created: now.Unix(), Model: model,
			ConversationID: conversationID,
		},
	}
}

// SetConversation names the conversation on the following frames (the pipeline may create
// it after the stream was prepared).
func (s *sseStream) SetConversation(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		s.base.ConversationID = id
	}
}

// startLocked commits the event-stream headers. The server's write deadline, meant for
// ordinary requests, is cleared: the stream has its own overall deadline (the caller's
// context).
func (s *sseStream) startLocked() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	rc := http.NewResponseController(s.w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.werr = err
	}
	s.w.WriteHeader(http.StatusOK)
}

// writeLocked writes one frame and flushes it.
func (s *sseStream) writeLocked(frame []byte) error {
	if s.werr != nil {
		return s.werr
	}
	if s.closed {
		return errStreamClosed
	}
	s.startLocked()
	if _, err := s.w.Write(frame); err != nil {
		s.werr = err
		return err
	}
	if err := http.NewResponseController(s.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.werr = err
		return err
	}
	return nil
}

var errStreamClosed = errors.New("channels: stream already ended")

// Begin commits the stream with OpenAI's opening chunk (delta {"role":"assistant"}), so
// the client sees the answer start before retrieval and the completion have run.
func (s *sseStream) Begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.base
	c.Choices = []chunkChoice{{Delta: chunkDelta{Role: "assistant"}}}
	return s.writeLocked(dataFrame(c))
}

// Delta sends one piece of the answer. Its error (the client went away) stops the pipeline's
// streaming; the pipeline still stores what it decided.
func (s *sseStream) Delta(content string) error {
	if content == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.base
	c.Choices = []chunkChoice{{Delta: chunkDelta{Content: content}}}
	return s.writeLocked(dataFrame(c))
}

// Finish sends the last chunk (finish_reason "stop" and the axon facts), then [DONE].
func (s *sseStream) Finish(final streamFinal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if final.Sources == nil {
		final.Sources = []agentapi.Source{}
	}
	stop := "stop"
	c := s.base
	c.Choices = []chunkChoice{{Delta: chunkDelta{}, FinishReason: &stop}}
	c.Axon = &final
	if err := s.writeLocked(dataFrame(c)); err != nil {
		return err
	}
	err := s.writeLocked([]byte("data: [DONE]\n\n"))
	s.closed = true
	return err
}

// Fail sends an `event: error` frame carrying the error shape and ends the stream. An
// unexpected error shows only the generic message, as the JSON error handler does.
func (s *sseStream) Fail(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := errorBody(err)
	b, _ := json.Marshal(body)
	frame := make([]byte, 0, len(b)+24)
	frame = append(frame, "event: error\ndata: "...)
	frame = append(frame, b...)
	frame = append(frame, "\n\n"...)
	werr := s.writeLocked(frame)
	s.closed = true
	return werr
}

// ping writes the keep-alive comment.
func (s *sseStream) ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.writeLocked([]byte(": ping\n\n"))
}

// StartPinger sends a ping every interval until StopPinger.
func (s *sseStream) StartPinger(every time.Duration) {
	if every <= 0 {
		every = defaultPingEvery
	}
	s.stopPing = make(chan struct{})
	s.pingDone = make(chan struct{})
	go func() {
		defer close(s.pingDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopPing:
				return
			case <-t.C:
				if s.ping() != nil {
					return
				}
			}
		}
	}()
}

// StopPinger stops the pinger and waits for it, so no ping follows the last frame.
func (s *sseStream) StopPinger() {
	if s.stopPing == nil {
		return
	}
	close(s.stopPing)
	<-s.pingDone
	s.stopPing = nil
}

// dataFrame renders `data: <json>\n\n`.
func dataFrame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every field is a plain value; a failure here is a programming error.
		b = []byte(`{}`)
	}
	frame := make([]byte, 0, len(b)+8)
	frame = append(frame, "data: "...)
	frame = append(frame, b...)
	return append(frame, "\n\n"...)
}

// errBody is the contract's error shape, as the JSON error handler writes it.
type errBody struct {
	Error      string         `json:"error"`
	Message    string         `json:"message"`
	StatusCode int            `json:"statusCode"`
	Details    map[string]any `json:"details,omitempty"`
}

func errorBody(err error) errBody {
	ae := apperr.As(err)
	if ae == nil || ae.Code == apperr.Internal {
		return errBody{Error: string(apperr.Internal), Message: apperr.InternalMessage, StatusCode: http.StatusInternalServerError}
	}
	return errBody{Error: string(ae.Code), Message: ae.Message, StatusCode: ae.Status(), Details: ae.Details}
}
