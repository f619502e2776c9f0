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

// stripeError turns a failed Stripe call into an application error: Stripe rejecting the
// request (4xx: a misconfigured price, a deleted customer) is our fault and a 500; anything
// else (network, Stripe 5xx after retries) is 503 SERVICE_UNAVAILABLE. The cause is logged.
func stripeError(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 {
		return apperr.Wrap(apperr.Internal, apperr.InternalMessage, fmt.Errorf("stripe %s: %w", op, err))
	}
	return apperr.Wrap(apperr.ServiceUnavailable, "The payment provider could not be reached; try again shortly",
		fmt.Errorf("stripe %s: %w", op, err))
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
