// Package fakeopenai is an in-process fake of the OpenAI API for tests. It speaks the real
// wire format of the two endpoints Axon uses, so the production client (platform/ai, built
// on openai-go) runs unchanged against it:
//
//   - POST /v1/embeddings: a list of {object: "embedding", index, embedding} with model and
//     usage; encoding_format "float" or "base64"; dimensions honoured (default 1536).
//   - POST /v1/chat/completions: a chat.completion object, or with "stream": true an SSE
//     stream of chat.completion.chunk frames ended by "data: [DONE]" (with a usage chunk
//     when stream_options.include_usage is set). JSON mode (response_format json_object)
//     returns the configured JSON.
//
// Every request is recorded. Failures (status codes with OpenAI's error body and an
// optional Retry-After), delays and malformed bodies can be programmed.
//
// Unless configured otherwise, embeddings are the deterministic offline embeddings of
// platform/ai, so retrieval over them behaves sensibly, and chat replies come from the
// offline extractive responder and scorer.
package fakeopenai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/ai"
)

// Request is one recorded HTTP request.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the decoded JSON body, or nil when the body was not a JSON object.
	Body map[string]any
	// RawBody is the body as received.
	RawBody []byte
	// Time is when the server received the request.
	Time time.Time
}

// ChatMessage is one message of a chat-completion request. Content given as an array of
// content parts is flattened to the concatenation of its text parts.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// UnmarshalJSON accepts content as a string or as an array of {type, text} parts.
func (m *ChatMessage) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role = raw.Role
	m.Content = ""
	if len(raw.Content) == 0 || string(raw.Content) == "null" {
		return nil
	}
	if raw.Content[0] == '"' {
		return json.Unmarshal(raw.Content, &m.Content)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw.Content, &parts); err != nil {
		return err
	}
	for _, p := range parts {
		m.Content += p.Text
	}
	return nil
}

// ChatCompletionRequest is the decoded body of POST /v1/chat/completions.
type ChatCompletionRequest struct {
	Model               string        `json:"model"`
	Messages            []ChatMessage `json:"messages"`
	Stream              bool          `json:"stream"`
	Temperature         *float64      `json:"temperature"`
	MaxTokens           int           `json:"max_tokens"`
	MaxCompletionTokens int           `json:"max_completion_tokens"`
	ResponseFormat      *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// JSONMode reports whether the request asked for a JSON object (response_format
// json_object or json_schema).
func (r ChatCompletionRequest) JSONMode() bool {
	return r.ResponseFormat != nil && (r.ResponseFormat.Type == "json_object" || r.ResponseFormat.Type == "json_schema")
}

type failure struct {
	remaining  int
	status     int
	retryAfter string
}

// Server is a fake OpenAI API. Its methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	offline *ai.Offline
	done    chan struct{}

	mu          sync.Mutex
	seq         int
	inFlight    int
	maxInFlight int
	requests    []Request
	chats       []ChatCompletionRequest
	embedCalls  int
	embedInputs []string
	failures    []failure
	delay       time.Duration
	malformed   bool
	apiKey      string
	embeddings  map[string][]float32
	chatReply   *string
	jsonReply   *string
	chatHandler func(ChatCompletionRequest) string
	streamErrAt int
}

// New starts a fake server that is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		offline:    ai.NewOffline(),
		done:       make(chan struct{}),
		embeddings: make(map[string][]float32),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(func() {
		close(s.done) // ends pending delays so Close does not wait for them
		s.srv.Close()
	})
	return s
}

// URL returns the API base URL ("http://127.0.0.1:port/v1") for option.WithBaseURL or
// ai.OpenAIConfig.BaseURL.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Requests returns a copy of every request received so far, in arrival order, including
// those answered with a programmed failure.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ChatRequests returns the decoded chat-completion requests received so far, including
// those answered with a programmed failure.
func (s *Server) ChatRequests() []ChatCompletionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.chats)
}

// EmbeddingCalls returns the number of POST /v1/embeddings requests received, including
// those answered with a programmed failure.
func (s *Server) EmbeddingCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.embedCalls
}

// EmbeddedInputs returns the inputs of the embeddings requests answered successfully, in
// the order they were answered.
func (s *Server) EmbeddedInputs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.embedInputs)
}

// MaxInFlight returns the largest number of requests the server held at once, each
// counted from its arrival until its answer starts (so mostly during SetDelay).
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// FailNext makes the next n requests fail with status and an OpenAI error body. A
// non-empty retryAfter is sent as the Retry-After header ("1", "0" or an HTTP date).
// Calls queue up: FailNext(1, 429, "0") then FailNext(2, 500, "") fails the next three
// requests, the first with 429.
func (s *Server) FailNext(n int, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		s.failures = append(s.failures, failure{remaining: n, status: status, retryAfter: retryAfter})
	}
}

// SetDelay makes every following request wait d before it is answered (or until the
// client gives up).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetMalformed makes successful answers carry truncated, unparsable JSON (or, when
// streaming, a broken chunk) until it is switched off.
func (s *Server) SetMalformed(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed = on
}

// SetStreamError makes streamed chat completions fail mid-stream: after n content deltas
// the server sends OpenAI's in-stream error event (`data: {"error": {...}}`) and ends the
// stream, as the real API does when a server error happens after streaming began. n <= 0
// switches it off.
func (s *Server) SetStreamError(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamErrAt = n
}

// SetAPIKey makes the server answer 401 (invalid_api_key) unless the request carries
// "Authorization: Bearer key". The empty key (the default) accepts any request.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// SetEmbedding fixes the vector returned for text, whatever dimensions were requested.
func (s *Server) SetEmbedding(text string, vec []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.embeddings[text] = slices.Clone(vec)
}

// SetChatReply fixes the content of every chat completion that is not in JSON mode.
func (s *Server) SetChatReply(content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatReply = &content
}

// SetJSONReply fixes the content of every chat completion in JSON mode.
func (s *Server) SetJSONReply(json string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jsonReply = &json
}

// SetChatHandler computes the content of every chat completion (JSON mode included) from
// the request; it takes precedence over SetChatReply and SetJSONReply. It may be called
// concurrently.
func (s *Server) SetChatHandler(h func(req ChatCompletionRequest) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatHandler = h
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := readAll(r)
	rec := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		Header:  r.Header.Clone(),
		RawBody: body,
		Time:    time.Now(),
	}
	_ = json.Unmarshal(body, &rec.Body)

	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.requests = append(s.requests, rec)
	isEmbed := r.Method == http.MethodPost && r.URL.Path == "/v1/embeddings"
	isChat := r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions"
	if isEmbed {
		s.embedCalls++
	}
	var chat ChatCompletionRequest
	chatErr := error(nil)
	if isChat {
		chatErr = json.Unmarshal(body, &chat)
		if chatErr == nil {
			s.chats = append(s.chats, chat)
		}
	}
	delay, apiKey, malformed := s.delay, s.apiKey, s.malformed
	var fail *failure
	if len(s.failures) > 0 {
		f := s.failures[0]
		fail = &f
		if s.failures[0].remaining--; s.failures[0].remaining == 0 {
			s.failures = s.failures[1:]
		}
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.done:
		}
		t.Stop()
	}
	// Leave the in-flight count before anything is written, so a client that starts
	// its next request after reading this answer can never be counted twice.
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if r.Context().Err() != nil {
		return
	}
	if apiKey != "" && r.Header.Get("Authorization") != "Bearer "+apiKey {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", "")
		return
	}
	if fail != nil {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		writeStatusError(w, fail.status)
		return
	}

	switch {
	case isEmbed:
		s.handleEmbeddings(w, body, malformed)
	case isChat:
		if chatErr != nil {
			writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "", "")
			return
		}
		s.handleChat(r.Context(), w, chat, seq, malformed)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", "")
	}
}

func readAll(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, body []byte, malformed bool) {
	var req embeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", "", "")
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			writeError(w, http.StatusBadRequest, "'$.input' is invalid: only strings and arrays of strings are supported by this fake.", "invalid_request_error", "", "input")
			return
		}
		inputs = []string{one}
	}
	if len(inputs) == 0 || len(inputs) > 2048 || slices.Contains(inputs, "") {
		writeError(w, http.StatusBadRequest, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "invalid_request_error", "", "input")
		return
	}
	if malformed {
		writeMalformed(w)
		return
	}
	dims := ai.EmbeddingDimensions
	if req.Dimensions > 0 {
		dims = req.Dimensions
	}

	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(inputs))
	tokens := 0
	for i, in := range inputs {
		vec := s.embedding(in, dims)
		var enc any = vec
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			enc = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = item{Object: "embedding", Index: i, Embedding: enc}
		tokens += countTokens(in)
	}

	s.mu.Lock()
	s.embedInputs = append(s.embedInputs, inputs...)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// embedding returns the configured vector for text, or the offline embedding folded to
// dims dimensions and renormalised.
func (s *Server) embedding(text string, dims int) []float32 {
	s.mu.Lock()
	fixed, ok := s.embeddings[text]
	s.mu.Unlock()
	if ok {
		return fixed
	}
	vecs, _ := s.offline.Embed(context.Background(), []string{text})
	v := vecs[0]
	if dims == len(v) {
		return v
	}
	folded := make([]float64, dims)
	for i, f := range v {
		folded[i%dims] += float64(f)
	}
	var norm float64
	for _, f := range folded {
		norm += f * f
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i, f := range folded {
		if norm > 0 {
			out[i] = float32(f / norm)
		}
	}
	return out
}

func (s *Server) handleChat(ctx context.Context, w http.ResponseWriter, req ChatCompletionRequest, seq int, malformed bool) {
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "[] is too short - 'messages'", "invalid_request_error", "", "messages")
		return
	}
	content := s.reply(ctx, req)
	id := fmt.Sprintf("chatcmpl-fake%06d", seq)
	created := time.Now().Unix()
	promptTokens := 0
	for _, m := range req.Messages {
		promptTokens += countTokens(m.Content)
	}
	completionTokens := countTokens(content)
	usage := map[string]int{
		"prompt_tokens":     promptTokens,
		"completion_tokens": completionTokens,
		"total_tokens":      promptTokens + completionTokens,
	}

	if !req.Stream {
		if malformed {
			writeMalformed(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id":      id,
			"object":  "chat.completion",
			"created": created,
			"model":   req.Model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil},
				"logprobs":      nil,
				"finish_reason": "stop",
			}},
			"usage":              usage,
			"system_fingerprint": "fp_fake",
		})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(data string) {
		fmt.Fprintf(w, "data: %s\n\n", data)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) string {
		b, _ := json.Marshal(map[string]any{
			"id":                 id,
			"object":             "chat.completion.chunk",
			"created":            created,
			"model":              req.Model,
			"system_fingerprint": "fp_fake",
			"choices": []map[string]any{{
				"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish,
			}},
		})
		return string(b)
	}

	send(chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
	if malformed {
		send(`{"id":"` + id + `","object":"chat.completion.chunk","choices":[{"delta":{"content":`)
		send("[DONE]")
		return
	}
	s.mu.Lock()
	errAt := s.streamErrAt
	s.mu.Unlock()
	for i, piece := range splitDeltas(content) {
		if errAt > 0 && i == errAt {
			send(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`)
			return
		}
		send(chunk(map[string]any{"content": piece}, nil))
	}
	send(chunk(map[string]any{}, "stop"))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fake", "choices": []any{}, "usage": usage,
		})
		send(string(b))
	}
	send("[DONE]")
}

// reply picks the completion content: the handler, else the configured reply for the
// mode, else the offline provider's answer.
func (s *Server) reply(ctx context.Context, req ChatCompletionRequest) string {
	s.mu.Lock()
	h, chatReply, jsonReply := s.chatHandler, s.chatReply, s.jsonReply
	s.mu.Unlock()
	switch {
	case h != nil:
		return h(req)
	case req.JSONMode() && jsonReply != nil:
		return *jsonReply
	case !req.JSONMode() && chatReply != nil:
		return *chatReply
	}

	areq := ai.ChatRequest{Model: req.Model}
	for _, m := range req.Messages {
		role := m.Role
		if role == "developer" {
			role = ai.RoleSystem
		}
		areq.Messages = append(areq.Messages, ai.ChatMessage{Role: role, Content: m.Content})
	}
	if req.JSONMode() {
		var raw json.RawMessage
		if err := s.offline.CompleteJSON(ctx, areq, &raw); err != nil {
			return "{}"
		}
		return string(raw)
	}
	resp, err := s.offline.Complete(ctx, areq)
	if err != nil {
		return ""
	}
	return resp.Content
}

// splitDeltas cuts content into word-sized pieces that concatenate back to it, the way
// real streams deliver a word (with its leading space) per chunk.
func splitDeltas(content string) []string {
	var out []string
	start := 0
	for i := 1; i < len(content); i++ {
		if content[i] == ' ' && content[i-1] != ' ' {
			out = append(out, content[start:i])
			start = i
		}
	}
	if start < len(content) {
		out = append(out, content[start:])
	}
	return out
}

// countTokens approximates the tokenizer with a word count.
func countTokens(s string) int { return len(strings.Fields(s)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeMalformed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, `))
}

// writeError writes OpenAI's error shape; empty code and param are sent as null.
func writeError(w http.ResponseWriter, status int, message, typ, code, param string) {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": message,
		"type":    typ,
		"param":   nullable(param),
		"code":    nullable(code),
	}})
}

// writeStatusError writes the error body OpenAI sends for status.
func writeStatusError(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		writeError(w, status, "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded", "")
	case status == http.StatusUnauthorized:
		writeError(w, status, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", "")
	case status == http.StatusServiceUnavailable:
		writeError(w, status, "The engine is currently overloaded, please try again later.", "server_error", "", "")
	case status >= 500:
		writeError(w, status, "The server had an error while processing your request. Sorry about that!", "server_error", "", "")
	default:
		writeError(w, status, http.StatusText(status), "invalid_request_error", "", "")
	}
}
