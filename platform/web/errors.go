package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/getsentry/sentry-go"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/pg"
)

// ErrorBody is the API's error shape: {"error","message","statusCode","details"?}
// (the ErrorBody schema of openapi.json).
type ErrorBody struct {
	Error      string         `json:"error"`
	Message    string         `json:"message"`
	StatusCode int            `json:"statusCode"`
	Details    map[string]any `json:"details,omitempty"`
}

// ErrorHandler is echo's HTTPErrorHandler: the only place that turns errors into status codes
// and JSON. Unexpected errors become 500 INTERNAL_ERROR; their cause is logged and sent to
// Sentry, never shown.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ae := toAppError(err)
		status := ae.Status()
		// Only unexpected failures are reported; a deliberate 5xx answer (501 billing not
		// configured, 503) is a state, not a bug, and would only be Sentry noise.
		if ae.Code == apperr.Internal {
			ctx := c.Request().Context()
			attrs := []slog.Attr{
				slog.String("requestId", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Path()),
			}
			if hub := sentryHub(c); hub != nil {
				ctx = sentry.SetHubOnContext(ctx, hub)
			}
			observe.Report(ctx, log, "request failed", err, attrs...)
		} else if ae.Code == apperr.ServiceUnavailable && pg.IsUnavailable(err) {
			log.WarnContext(c.Request().Context(), "request failed: database unavailable",
				"requestId", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Path(), "err", err)
		}
		body := ErrorBody{Error: string(ae.Code), Message: ae.Message, StatusCode: status, Details: ae.Details}
		if ae.Code == apperr.Internal {
			body.Message = apperr.InternalMessage
			body.Details = nil
		}
		var werr error
		if c.Request().Method == http.MethodHead {
			werr = c.NoContent(status)
		} else {
			werr = c.JSON(status, body)
		}
		if werr != nil && !errors.Is(werr, context.Canceled) {
			log.Warn("writing error response failed", "err", werr)
		}
	}
}

func sentryHub(c echo.Context) *sentry.Hub {
	if h, ok := c.Get("sentry").(*sentry.Hub); ok {
		return h
	}
	return nil
}

// dbUnavailable is the answer while the database cannot be reached (pg.IsUnavailable):
// 503, so that the client retries, instead of a 500.
func dbUnavailable(err error) *apperr.Error {
	return apperr.Wrap(apperr.ServiceUnavailable, "The service is temporarily unavailable; try again shortly", err)
}

// toAppError maps echo's own errors (routing, binding, body limit) onto contract codes, and
// an unexpected error that is the database being unreachable onto 503.
func toAppError(err error) *apperr.Error {
	if ae := apperr.As(err); ae != nil {
		if ae.Code == apperr.Internal && pg.IsUnavailable(err) {
			return dbUnavailable(err)
		}
		return ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		switch he.Code {
		case http.StatusNotFound:
			return apperr.E(apperr.NotFound, "Route not found")
		case http.StatusMethodNotAllowed:
			return apperr.E(apperr.MethodNotAllowed, "Method not allowed")
		case http.StatusRequestEntityTooLarge:
			return apperr.E(apperr.PayloadTooLarge, "Request body too large")
		case http.StatusUnsupportedMediaType:
			return apperr.E(apperr.UnsupportedMediaType, "Unsupported media type")
		case http.StatusUnauthorized:
			return apperr.E(apperr.MissingToken, msg)
		case http.StatusForbidden:
			return apperr.E(apperr.Forbidden, msg)
		case http.StatusTooManyRequests:
			return apperr.E(apperr.RateLimited, "Too many requests")
		case http.StatusServiceUnavailable:
			return apperr.E(apperr.ServiceUnavailable, msg)
		}
		if he.Code >= 400 && he.Code < 500 {
			return apperr.E(apperr.Validation, msg)
		}
	}
	if pg.IsUnavailable(err) {
		return dbUnavailable(err)
	}
	return apperr.Wrap(apperr.Internal, apperr.InternalMessage, err)
}
