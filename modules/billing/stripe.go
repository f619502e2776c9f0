package billing

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/axonhq/axon/platform/apperr"
)

// newStripeClient builds a stripe-go client whose API backend is cfg.APIBase when set
// (stripe-mock or a test fake), with stripe-go's own retries of network errors and 5xx.
func newStripeClient(cfg StripeConfig, log *slog.Logger) *client.API {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	backend := func(t stripe.SupportedBackend, url string) stripe.Backend {
		bc := &stripe.BackendConfig{
			HTTPClient:        hc,
			LeveledLogger:     slogLeveled{log: log},
			MaxNetworkRetries: stripe.Int64(2),
		}
		if url != "" {
			bc.URL = stripe.String(url)
		}
		return stripe.GetBackendWithConfig(t, bc)
	}
	base := strings.TrimRight(cfg.APIBase, "/")
	return client.New(cfg.SecretKey, &stripe.Backends{
		API:     backend(stripe.APIBackend, base),
		Connect: backend(stripe.ConnectBackend, base),
		Uploads: backend(stripe.UploadsBackend, base),
	})
}

// stripeError turns a failed Stripe call into an application error. Stripe refusing the
// request (a 4xx) becomes a 4xx in the contract's shape, never INTERNAL_ERROR, so it is not
// reported to Sentry (stripe-go's logger still writes Stripe's refusal to the log):
//   - a list cursor Stripe does not know (param starting_after) → 400 VALIDATION_ERROR on cursor;
//   - 404 (an object deleted in Stripe's dashboard) → 404 NOT_FOUND;
//   - 429 → 429 RATE_LIMITED;
//   - 401/403 (our key is wrong or lacks a permission: nothing the caller can fix) → 503;
//   - any other 4xx (400, 402, 409) → 400 VALIDATION_ERROR naming Stripe's error code.
//
// Anything else (network, Stripe 5xx after stripe-go's retries) is 503 SERVICE_UNAVAILABLE.
func stripeError(op string, err error) error {
	cause := fmt.Errorf("stripe %s: %w", op, err)
	unavailable := apperr.Wrap(apperr.ServiceUnavailable, "The payment provider could not be reached; try again shortly", cause)
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode < 400 || se.HTTPStatusCode >= 500 {
		return unavailable
	}
	switch {
	case se.Param == "starting_after" || se.Param == "ending_before":
		e := apperr.ValidationFields(map[string]string{"cursor": "is not a cursor this API issued"})
		e.Cause = cause
		return e
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		return unavailable
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		return apperr.Wrap(apperr.RateLimited, "The payment provider is busy; retry shortly", cause)
	case se.HTTPStatusCode == http.StatusNotFound:
		return apperr.Wrap(apperr.NotFound, "The payment provider has no such record (it may have been deleted there)", cause)
	}
	e := apperr.Wrap(apperr.Validation, "The payment provider refused the request", cause)
	if se.Code != "" {
		e.Details = map[string]any{"providerCode": string(se.Code)}
	}
	return e
}

// slogLeveled routes stripe-go's logging to slog; its info/debug lines (one per request)
// are dropped.
type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) Debugf(string, ...any) {}
func (l slogLeveled) Infof(string, ...any)  {}
func (l slogLeveled) Warnf(format string, v ...any) {
	l.log.Warn("stripe: " + fmt.Sprintf(format, v...))
}

func (l slogLeveled) Errorf(format string, v ...any) {
	l.log.Error("stripe: " + fmt.Sprintf(format, v...))
}

// expectedLivemode derives the mode of events we accept from the secret key
// (sk_live_/rk_live_ → live, sk_test_/rk_test_ → test); ok is false when the key says
// neither.
func expectedLivemode(secretKey string) (live, ok bool) {
	switch {
	case strings.Contains(secretKey, "_live_"):
		return true, true
	case strings.Contains(secretKey, "_test_"):
		return false, true
	}
	return false, false
}
