package ai

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel error kinds. An *Error carries one of them in Kind, and errors.Is(err, kind)
// reports whether err is of that kind.
var (
	// ErrRateLimited means the provider answered 429; RetryAfter holds its hint, if any.
	ErrRateLimited = errors.New("ai: rate limited")
	// ErrTimeout means an attempt or the caller's deadline ran out before the reply.
	ErrTimeout = errors.New("ai: timeout")
	// ErrUnavailable means a 5xx answer or a connection failure.
	ErrUnavailable = errors.New("ai: provider unavailable")
	// ErrBadResponse means the provider answered 2xx with a body we cannot use.
	ErrBadResponse = errors.New("ai: bad response")
	// ErrInvalidRequest means the provider rejected the request (4xx other than auth and
	// rate limits) or the request was invalid before it was sent.
	ErrInvalidRequest = errors.New("ai: invalid request")
	// ErrAuth means the API key was missing, wrong or lacks permission (401/403).
	ErrAuth = errors.New("ai: authentication failed")
)

// Error is the error returned by providers for failed calls.
type Error struct {
	// Kind is one of the sentinel errors ErrRateLimited … ErrAuth.
	Kind error
	// Status is the HTTP status of the last attempt, or 0 when there was no response.
	Status int
	// RetryAfter is the wait the provider asked for (Retry-After or retry-after-ms), or 0.
	RetryAfter time.Duration
	// Err is the underlying cause.
	Err error
}

// Error describes the kind, status and cause.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the kind and the cause, so errors.Is matches both the sentinel kind and
// anything in the cause chain (for example context.DeadlineExceeded).
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// IsRetryable reports whether trying the same call again later may succeed: rate limits,
// timeouts and unavailability. It is false for nil, bad responses, invalid requests,
// authentication failures and errors that are not *Error (such as context.Canceled).
//
// The OpenAI client already retries rate limits and unavailability itself; a retryable
// error that reaches the caller means its attempts or its wait budget ran out, so a job
// should back off (or snooze for RetryAfter) rather than retry immediately.
func IsRetryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Kind == ErrRateLimited || e.Kind == ErrTimeout || e.Kind == ErrUnavailable
}

func newError(kind error, status int, cause error) *Error {
	return &Error{Kind: kind, Status: status, Err: cause}
}
