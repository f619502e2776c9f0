package ai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The OpenAI wire format, written out for the three calls Axon makes (chat completions,
// streamed chat completions, embeddings) instead of linking the openai-go SDK: the SDK's
// ~360 package init functions, spread over its 12 MB of code, and the type descriptors
// they register kept about 11 MiB of the binary resident in every axon process, whatever
// the command (docs/performance.md, "Backups at size"; docs/decisions.md, "The OpenAI
// client without the SDK").

// maxReplyBytes bounds a non-streamed reply body; the largest, 100 embeddings of 1536
// floats, is about 3 MB.
const maxReplyBytes = 64 << 20

// maxEventBytes bounds one line of a streamed reply.
const maxEventBytes = 1 << 20

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type responseFormat struct {
	Type string `json:"type"`
}

// chatRequest is the body of POST /chat/completions. Temperature is always sent, so zero
// means deterministic sampling.
type chatRequest struct {
	Model          string          `json:"model"`
	Messages       []chatMessage   `json:"messages"`
	Temperature    float64         `json:"temperature"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	Stream         bool            `json:"stream,omitempty"`
	StreamOptions  *streamOptions  `json:"stream_options,omitempty"`
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// chatResponse is the part of a chat completion we use.
type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

// chatChunk is one chat.completion.chunk event of a streamed reply, or an in-stream error
// event ({"error": {...}}).
type chatChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage usage           `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// embeddingRequest is the body of POST /embeddings.
type embeddingRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

// statusError is a non-2xx answer. Its message names the status and OpenAI's error type
// and code, not the error message, which may quote part of the request or the key.
type statusError struct {
	Status     int
	Type, Code string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("OpenAI API error: %d %s", e.Status, http.StatusText(e.Status))
	for _, s := range []string{e.Type, e.Code} {
		if s != "" {
			msg += " (" + s + ")"
		}
	}
	return strings.TrimSpace(msg)
}

// streamError is an error event inside a streamed reply: the server failed mid-reply.
type streamError struct{ event string }

func (e *streamError) Error() string { return "received error while streaming: " + e.event }

// post sends body as JSON to path under the base URL and returns the body of a 2xx
// answer, which the caller must close. *res is set to any response received, so the retry
// loop sees its status and Retry-After headers; a non-2xx answer is a *statusError (its
// body is read and closed here).
func (o *OpenAI) post(ctx context.Context, path string, body any, accept string, res **http.Response) (io.ReadCloser, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, newError(ErrInvalidRequest, 0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return nil, newError(ErrInvalidRequest, 0, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	r, err := o.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	*res = r
	if r.StatusCode < 200 || r.StatusCode > 299 {
		defer r.Body.Close()
		e := &statusError{Status: r.StatusCode}
		var eb struct {
			Error struct {
				Type, Code any
			} `json:"error"`
		}
		if data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10)); err == nil && json.Unmarshal(data, &eb) == nil {
			e.Type, e.Code = scalar(eb.Error.Type), scalar(eb.Error.Code)
		}
		return nil, e
	}
	return r.Body, nil
}

// scalar formats a JSON string or number of an error body; anything else is "".
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// postJSON is post for a JSON reply decoded into out. A reply that does not decode is an
// ErrBadResponse; a body cut short is a transport error (ErrUnavailable, or ErrTimeout at
// the attempt's deadline).
func (o *OpenAI) postJSON(ctx context.Context, path string, body any, res **http.Response, out any) error {
	rc, err := o.post(ctx, path, body, "application/json", res)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxReplyBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxReplyBytes {
		return newError(ErrBadResponse, http.StatusOK, fmt.Errorf("reply larger than %d bytes", maxReplyBytes))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return newError(ErrBadResponse, http.StatusOK, fmt.Errorf("decode %s reply: %w", path, err))
	}
	return nil
}

// readChunks reads a server-sent event stream of chat chunks and calls fn for each, until
// the [DONE] event or the end of the body. An error event is a *streamError; a chunk that
// does not decode, or a body without any event (a server that ignored "stream"), is an
// ErrBadResponse; fn's error ends the stream and is returned.
func readChunks(body io.Reader, fn func(*chatChunk) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var data []byte
	events := 0
	dispatch := func() error {
		events++
		defer func() { data = data[:0] }()
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			return io.EOF
		}
		var c chatChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return newError(ErrBadResponse, http.StatusOK, fmt.Errorf("decode stream chunk: %w", err))
		}
		if len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null")) {
			return &streamError{event: string(c.Error)}
		}
		return fn(&c)
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			// A blank line ends an event.
			if len(data) == 0 {
				continue
			}
			if err := dispatch(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(name) == "data" {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		}
		// Comments (": …") and other fields (event, id, retry) carry nothing we use.
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(data) > 0 {
		if err := dispatch(); err != nil && err != io.EOF {
			return err
		}
	}
	if events == 0 {
		return newError(ErrBadResponse, http.StatusOK, errors.New("the streamed reply holds no event"))
	}
	return nil
}
