package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Timeouts bound how long a connection may take over each part of an exchange; they are what
// keeps a slow or silent client (slowloris) from holding a connection and its goroutine.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers (default 10 s).
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included (default 30 s). Routes that take
	// large bodies (uploads) extend it with Deadline.
	Read time.Duration
	// Write bounds the time from the end of the request headers to the end of the response
	// (default 120 s: long enough for a non-streamed LLM answer). Streaming routes extend it
	// with StreamDeadlines or ExtendWrite.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection (default 120 s).
	Idle time.Duration
}

// DefaultTimeouts are the server's timeouts when Options.Timeouts leaves one at zero.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 120 * time.Second, Idle: 120 * time.Second}

// Deadlines of the local-storage upload route (PUT /v1/storage/local/*) and of streams.
const (
	UploadReadTimeout  = 10 * time.Minute
	UploadWriteTimeout = 11 * time.Minute
	StreamWriteTimeout = time.Hour
)

func (t Timeouts) apply(s *http.Server) {
	pick := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	s.ReadHeaderTimeout = pick(t.ReadHeader, DefaultTimeouts.ReadHeader)
	s.ReadTimeout = pick(t.Read, DefaultTimeouts.Read)
	s.WriteTimeout = pick(t.Write, DefaultTimeouts.Write)
	s.IdleTimeout = pick(t.Idle, DefaultTimeouts.Idle)
}

// Deadline gives the requests it wraps their own read and write deadlines, counted from the
// moment the handler starts, in place of the server's ReadTimeout and WriteTimeout: an upload
// route takes longer to receive its body, a stream longer to write. A zero duration leaves
// that deadline as the server set it. skip, when given, exempts requests (the middleware can
// then be installed for a path prefix with e.Use).
func Deadline(read, write time.Duration, skip ...func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			for _, s := range skip {
				if s(c) {
					return next(c)
				}
			}
			rc := http.NewResponseController(c.Response())
			now := time.Now()
			if read != 0 {
				if err := rc.SetReadDeadline(now.Add(read)); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return err
				}
			}
			if write != 0 {
				if err := rc.SetWriteDeadline(now.Add(write)); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return err
				}
			}
			return next(c)
		}
	}
}

// StreamDeadlines is the middleware of streaming routes (SSE, chat streams): the request is
// read already, the response may be written for up to max (StreamWriteTimeout when zero).
// A stream that should live longer calls ExtendWrite as it writes.
func StreamDeadlines(max time.Duration) echo.MiddlewareFunc {
	if max == 0 {
		max = StreamWriteTimeout
	}
	return Deadline(0, max)
}

// ExtendWrite moves the write deadline of c's connection to d from now (a stream calls it
// before each event or heartbeat, so a live client keeps its stream and a dead one is cut).
func ExtendWrite(c echo.Context, d time.Duration) error {
	err := http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(d))
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}
