package ai

import (
	"context"
	"time"
)

// SetSleep replaces the wait between retries of o, so tests can observe it without
// waiting.
func SetSleep(o *OpenAI, sleep func(ctx context.Context, d time.Duration) error) {
	o.retry.sleep = sleep
}

// ParseRetryAfter exposes parseRetryAfter to the external tests.
var ParseRetryAfter = parseRetryAfter
