package ai_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/ai"
)

func TestErrorIsKindAndCause(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("embed chunk: %w", &ai.Error{Kind: ai.ErrTimeout, Err: context.DeadlineExceeded})
	if !errors.Is(err, ai.ErrTimeout) {
		t.Error("errors.Is(err, ErrTimeout) = false")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is(err, context.DeadlineExceeded) = false")
	}
	if errors.Is(err, ai.ErrUnavailable) {
		t.Error("errors.Is(err, ErrUnavailable) = true")
	}
	var e *ai.Error
	if !errors.As(err, &e) || e.Kind != ai.ErrTimeout {
		t.Errorf("errors.As = %v, %+v", e != nil, e)
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	err := &ai.Error{Kind: ai.ErrRateLimited, Status: 429, RetryAfter: 2 * time.Second, Err: errors.New("slow down")}
	want := "ai: rate limited (status 429) (retry after 2s): slow down"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("plain"), false},
		{context.Canceled, false},
		{&ai.Error{Kind: ai.ErrRateLimited}, true},
		{&ai.Error{Kind: ai.ErrTimeout}, true},
		{fmt.Errorf("wrapped: %w", &ai.Error{Kind: ai.ErrUnavailable}), true},
		{&ai.Error{Kind: ai.ErrBadResponse}, false},
		{&ai.Error{Kind: ai.ErrInvalidRequest}, false},
		{&ai.Error{Kind: ai.ErrAuth}, false},
	}
	for _, tt := range tests {
		if got := ai.IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
		ok      bool
	}{
		{"none", nil, 0, false},
		{"seconds", map[string]string{"Retry-After": "2"}, 2 * time.Second, true},
		{"zero", map[string]string{"Retry-After": "0"}, 0, true},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond, true},
		{"milliseconds win", map[string]string{"Retry-After": "2", "retry-after-ms": "250"}, 250 * time.Millisecond, true},
		{"http date", map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}, 3 * time.Second, true},
		{"RFC 1123 date in UTC", map[string]string{"Retry-After": now.Add(4 * time.Second).Format(time.RFC1123)}, 4 * time.Second, true},
		{"http date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(time.RFC1123)}, 0, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-1"}, 0, false},
		{"bad ms falls back", map[string]string{"retry-after-ms": "x", "Retry-After": "1"}, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := make(http.Header)
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, ok := ai.ParseRetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseRetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
