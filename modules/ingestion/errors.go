package ingestion

import (
	"context"
	"errors"
	"fmt"

	"github.com/axonhq/axon/platform/ai"
)

// ingestError is an ingestion failure with the text shown to the user as the document's
// errorMsg. Permanent failures (a page that answers 404, a private address, a corrupt PDF)
// end the job at once; the others are retried (3 attempts, backing off from 2 s).
type ingestError struct {
	msg       string
	permanent bool
	cause     error
}

func (e *ingestError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *ingestError) Unwrap() error { return e.cause }

// permanentf is a failure that retrying cannot fix.
func permanentf(format string, a ...any) error {
	return &ingestError{msg: fmt.Sprintf(format, a...), permanent: true}
}

// transient is a failure that a later attempt may not meet (timeouts, 5xx, rate limits).
func transient(cause error, format string, a ...any) error {
	return &ingestError{msg: fmt.Sprintf(format, a...), cause: cause}
}

// classify returns the user-facing message of err and whether it is permanent. Errors
// that are not ingestError (database, context) are transient with a generic message.
func classify(err error) (msg string, permanent bool) {
	var ie *ingestError
	if errors.As(err, &ie) {
		return ie.msg, ie.permanent
	}
	var ae *ai.Error
	if errors.As(err, &ae) {
		return embedMessage(ae), !ai.IsRetryable(err) && !errors.Is(err, ai.ErrBadResponse)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Processing timed out", false
	}
	if errors.Is(err, context.Canceled) {
		return "Processing was interrupted", false
	}
	return "Processing failed unexpectedly", false
}

// embedMessage describes an embedding-provider failure without internals.
func embedMessage(e *ai.Error) string {
	switch {
	case errors.Is(e, ai.ErrRateLimited):
		return "The embedding provider is rate limiting requests"
	case errors.Is(e, ai.ErrTimeout):
		return "The embedding provider timed out"
	case errors.Is(e, ai.ErrUnavailable):
		if e.Status != 0 {
			return fmt.Sprintf("The embedding provider is unavailable (status %d)", e.Status)
		}
		return "The embedding provider is unreachable"
	case errors.Is(e, ai.ErrAuth):
		return "The embedding provider rejected the API key"
	case errors.Is(e, ai.ErrBadResponse):
		return "The embedding provider sent an unusable answer"
	default:
		return "The embedding provider rejected the request"
	}
}
