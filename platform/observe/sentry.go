package observe

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
)

// SentryOptions configures Sentry for one role.
type SentryOptions struct {
	DSN        string
	Env        string
	Release    string
	Production bool
	// Transport replaces the HTTP transport to the DSN (tests record the events with it).
	Transport sentry.Transport
}

// InitSentry starts Sentry when a DSN is set and returns a flush function. Traces are sampled
// at 0.1 in production and 1.0 elsewhere.
func InitSentry(o SentryOptions) (flush func(), err error) {
	if o.DSN == "" {
		return func() {}, nil
	}
	rate := 1.0
	if o.Production {
		rate = 0.1
	}
	err = sentry.Init(sentry.ClientOptions{
		Dsn:                   o.DSN,
		Environment:           o.Env,
		Release:               o.Release,
		EnableTracing:         true,
		TracesSampleRate:      rate,
		Transport:             o.Transport,
		BeforeSend:            func(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event { return Scrub(ev) },
		BeforeSendTransaction: func(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event { return Scrub(ev) },
	})
	if err != nil {
		return func() {}, err
	}
	return func() { sentry.Flush(2 * time.Second) }, nil
}

// Report logs err and sends it to Sentry with the given attributes as tags/extra. It is the
// one place background code reports an unexpected failure.
func Report(ctx context.Context, log *slog.Logger, msg string, err error, attrs ...slog.Attr) {
	args := make([]any, 0, len(attrs)+1)
	args = append(args, slog.String("err", RedactString(err.Error())))
	for _, a := range attrs {
		args = append(args, a)
	}
	log.ErrorContext(ctx, msg, args...)
	hub := sentry.GetHubFromContext(ctx)
	if hub == nil {
		hub = sentry.CurrentHub()
	}
	hub.WithScope(func(s *sentry.Scope) {
		s.SetTag("message", msg)
		ctxVals := sentry.Context{}
		for _, a := range attrs {
			ctxVals[a.Key] = a.Value.String()
		}
		s.SetContext("axon", ctxVals)
		hub.CaptureException(err)
	})
}

// Scrub removes what an event must not carry from its request: secret headers' values,
// cookies, the body, and every query parameter's value (query strings carry the EventSource
// access_token and the e-mail webhook's key). It returns ev.
func Scrub(ev *sentry.Event) *sentry.Event {
	if ev == nil || ev.Request == nil {
		return ev
	}
	for k := range ev.Request.Headers {
		if IsSecretKey(k) {
			ev.Request.Headers[k] = Redacted
		}
	}
	ev.Request.Cookies = ""
	ev.Request.Data = ""
	if ev.Request.QueryString != "" {
		q, err := url.ParseQuery(ev.Request.QueryString)
		if err != nil {
			ev.Request.QueryString = Redacted
		} else {
			for k := range q {
				q[k] = []string{Redacted}
			}
			ev.Request.QueryString = q.Encode()
		}
	}
	if u, _, found := strings.Cut(ev.Request.URL, "?"); found {
		ev.Request.URL = u
	}
	return ev
}
