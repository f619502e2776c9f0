package ai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"golang.org/x/time/rate"
)

// retryPolicy decides how often and how long the OpenAI client waits between attempts.
// The SDK's own retries are switched off (option.WithMaxRetries(0)) so that this loop is
// the only one: it classifies errors into *Error, takes a limiter slot per attempt, gives
// up early when a wait would outlive the caller's deadline, and its sleep can be observed
// in tests.
type retryPolicy struct {
	maxRetries int           // retries after the first attempt
	baseDelay  time.Duration // first backoff step without Retry-After
	maxWait    time.Duration // cap on one wait; a longer Retry-After ends the retries
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time
}

// backoff returns the wait before retry number attempt+1 when the server gave no hint:
// exponential from baseDelay, capped at maxWait, with "equal jitter" (half fixed, half
// random) so that concurrent clients spread out without the wait collapsing to zero.
func (p retryPolicy) backoff(attempt int) time.Duration {
	d := p.baseDelay
	for range attempt {
		d *= 2
		if d >= p.maxWait {
			d = p.maxWait
			break
		}
	}
	d = min(d, p.maxWait)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// sleepContext waits for d or until ctx is done, whichever comes first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limiter bounds the requests of one OpenAI instance: at most cap(slots) in flight and a
// token-bucket rate. A nil *limiter does not limit.
type limiter struct {
	slots chan struct{}
	rate  *rate.Limiter
}

func newLimiter(concurrency int, rps float64) *limiter {
	l := &limiter{slots: make(chan struct{}, concurrency)}
	if rps > 0 {
		l.rate = rate.NewLimiter(rate.Limit(rps), max(1, concurrency))
	}
	return l
}

func (l *limiter) acquire(ctx context.Context) error {
	if l == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if l.rate != nil {
		if err := l.rate.Wait(ctx); err != nil {
			<-l.slots
			// rate.Wait fails early when the wait would pass the deadline; report it as
			// the deadline so callers see a timeout, not a limiter detail.
			if ctx.Err() == nil {
				return context.DeadlineExceeded
			}
			return ctx.Err()
		}
	}
	return nil
}

func (l *limiter) release() {
	if l != nil {
		<-l.slots
	}
}

// noRetryError marks an attempt error that must not be retried, for example a stream
// that already delivered deltas to the caller.
type noRetryError struct{ err error }

func (e noRetryError) Error() string { return e.err.Error() }
func (e noRetryError) Unwrap() error { return e.err }

// callbackError carries an error returned by the caller's onDelta; it is returned
// unchanged and never retried.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// attemptFunc performs one HTTP request. It must pass option.WithResponseInto(res) to the
// SDK call so that the loop can see the raw response (status and Retry-After headers).
type attemptFunc func(ctx context.Context, res **http.Response) error

// run executes attempt until it succeeds, fails permanently, runs out of retries or the
// caller's context ends. Each attempt gets its own timeout and, when lim is not nil, a
// limiter slot held for the attempt only (not during backoff). Errors are *Error values,
// the caller's onDelta error unchanged, or context.Canceled when the caller cancelled.
func (p retryPolicy) run(ctx context.Context, timeout time.Duration, lim *limiter, attempt attemptFunc) error {
	for n := 0; ; n++ {
		if err := lim.acquire(ctx); err != nil {
			return contextError(ctx, err)
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		var res *http.Response
		err := attempt(actx, &res)
		cancel()
		lim.release()
		if err == nil {
			return nil
		}

		if cb, ok := errors.AsType[callbackError](err); ok {
			return cb.err
		}
		if ctx.Err() != nil {
			return contextError(ctx, ctx.Err())
		}
		e, hinted := classify(err, res, p.now())
		_, final := errors.AsType[noRetryError](err)
		if final || n >= p.maxRetries || !retryable(e, res) {
			return e
		}

		wait := e.RetryAfter
		if !hinted {
			wait = p.backoff(n)
		}
		if wait > p.maxWait {
			// The server asked for longer than we are willing to block; hand the hint
			// to the caller (a job can snooze for e.RetryAfter).
			return e
		}
		if deadline, ok := ctx.Deadline(); ok && p.now().Add(wait).After(deadline) {
			return e
		}
		if err := p.sleep(ctx, wait); err != nil {
			return contextError(ctx, err)
		}
	}
}

// retryable reports whether the loop itself should try again: rate limits, 5xx and
// connection failures, and 408. A timeout of our own per-attempt deadline is not retried,
// because the attempt already used the whole budget the caller allowed for it. An
// explicit x-should-retry header from the server wins.
func retryable(e *Error, res *http.Response) bool {
	if res != nil {
		switch res.Header.Get("x-should-retry") {
		case "true":
			return true
		case "false":
			return false
		}
	}
	switch e.Kind {
	case ErrRateLimited, ErrUnavailable:
		return true
	case ErrTimeout:
		return e.Status == http.StatusRequestTimeout
	}
	return false
}

// contextError turns the end of the caller's context into the error we return: a
// deadline is an ErrTimeout (errors.Is(err, context.DeadlineExceeded) still holds), a
// cancellation is returned as is.
func contextError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(ErrTimeout, 0, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// classify maps an SDK or transport error (and the raw response, when there was one) to
// an *Error. hinted reports whether the response carried a usable retry-after header.
func classify(err error, res *http.Response, now time.Time) (e *Error, hinted bool) {
	status := 0
	if apiErr, ok := errors.AsType[*openai.Error](err); ok {
		status = apiErr.StatusCode
		if res == nil {
			res = apiErr.Response
		}
	}
	if status == 0 && res != nil {
		status = res.StatusCode
	}
	if status >= 400 {
		e = newError(kindForStatus(status), status, err)
		if res != nil {
			e.RetryAfter, hinted = parseRetryAfter(res.Header, now)
		}
		return e, hinted
	}

	if e, ok := errors.AsType[*Error](err); ok {
		return e, false
	}
	_, isSyntax := errors.AsType[*json.SyntaxError](err)
	_, isType := errors.AsType[*json.UnmarshalTypeError](err)
	_, isStream := errors.AsType[*ssestream.StreamError](err)
	_, isURL := errors.AsType[*url.Error](err)
	_, isNet := errors.AsType[net.Error](err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return newError(ErrTimeout, status, err), false
	case isSyntax, isType, strings.Contains(err.Error(), "error parsing response json"):
		// A truncated body decodes to io.ErrUnexpectedEOF, so openai-go's wording is what
		// tells a broken 2xx body apart from a dropped connection.
		return newError(ErrBadResponse, status, err), false
	case isStream:
		// An "error" event inside an SSE stream is the server failing mid-reply.
		return newError(ErrUnavailable, status, err), false
	case isURL, isNet, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newError(ErrUnavailable, status, err), false
	}
	// What remains comes from decoding a 2xx body the SDK did not understand.
	return newError(ErrBadResponse, status, err), false
}

func kindForStatus(status int) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrAuth
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusRequestTimeout:
		return ErrTimeout
	case status == http.StatusConflict:
		// OpenAI documents 409 as a transient lock conflict worth retrying.
		return ErrUnavailable
	case status >= 500:
		return ErrUnavailable
	default:
		return ErrInvalidRequest
	}
}

// parseRetryAfter reads the server's wait hint: retry-after-ms (milliseconds, OpenAI's
// extension, preferred because it is precise), then Retry-After as seconds or as an HTTP
// date. A date in the past means "now". ok is false when neither header is usable.
func parseRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		// Some servers write the zone as "UTC" instead of HTTP's "GMT".
		t, err = time.Parse(time.RFC1123, v)
	}
	if err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}
