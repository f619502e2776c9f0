package ai

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestReadChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		deltas  []string
		usage   usage
		wantErr error // a sentinel kind, or nil
		stream  bool  // the error is a *streamError instead
	}{
		{
			name:   "deltas, usage and DONE",
			body:   "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
			deltas: []string{"Hel", "lo"},
			usage:  usage{PromptTokens: 3, CompletionTokens: 2},
		},
		{
			name:   "comments, other fields, and nothing read after DONE",
			body:   ": keep-alive\n\nevent: chunk\nid: 1\ndata:{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"ignored\"}}]}\n\n",
			deltas: []string{"a"},
		},
		{
			name:   "one event on two data lines",
			body:   "data: {\"choices\":\ndata: [{\"delta\":{\"content\":\"x\"}}]}\n\n",
			deltas: []string{"x"},
		},
		{
			name:   "last event without its blank line",
			body:   "data: {\"choices\":[{\"delta\":{\"content\":\"end\"}}]}",
			deltas: []string{"end"},
		},
		{
			name:   "error event after a delta",
			body:   "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
			deltas: []string{"a"},
			stream: true,
		},
		{
			name:    "broken chunk",
			body:    "data: {\"choices\":[{\"delta\":\n\n",
			wantErr: ErrBadResponse,
		},
		{
			name:    "a JSON reply instead of a stream",
			body:    `{"choices":[{"message":{"content":"hello"}}]}`,
			wantErr: ErrBadResponse,
		},
		{
			name:    "empty body",
			body:    "",
			wantErr: ErrBadResponse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var deltas []string
			var u usage
			err := readChunks(strings.NewReader(tt.body), func(c *chatChunk) error {
				if c.Usage != (usage{}) {
					u = c.Usage
				}
				if len(c.Choices) > 0 {
					deltas = append(deltas, c.Choices[0].Delta.Content)
				}
				return nil
			})
			switch {
			case tt.stream:
				if _, ok := errors.AsType[*streamError](err); !ok {
					t.Errorf("error = %v, want a *streamError", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("error = %v", err)
			}
			if !slices.Equal(deltas, tt.deltas) || u != tt.usage {
				t.Errorf("deltas, usage = %q, %+v; want %q, %+v", deltas, u, tt.deltas, tt.usage)
			}
		})
	}
}

func TestReadChunksStopsAtCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := readChunks(strings.NewReader(strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", 5)), func(*chatChunk) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("error, calls = %v, %d; want %v, 2", err, n, stop)
	}
}

func TestStatusErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    statusError
		want string
	}{
		{statusError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key"}, "OpenAI API error: 401 Unauthorized (invalid_request_error) (invalid_api_key)"},
		{statusError{Status: http.StatusBadGateway}, "OpenAI API error: 502 Bad Gateway"},
		{statusError{Status: 599}, "OpenAI API error: 599"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
