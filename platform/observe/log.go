// Package observe sets up logging (log/slog with redaction), Sentry and metrics.
package observe

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// redactedKeys are attribute keys (case-insensitive substrings) whose values never reach a
// log line.
var redactedKeys = []string{"authorization", "cookie", "password", "token", "secret", "credentials", "apikey", "api_key"}

// bearerRe catches credentials that ended up inside free text (an error message, a URL).
var bearerRe = regexp.MustCompile(`(?i)(bearer\s+|(?:token|secret|password|key|sig)=)[^\s&"']+`)

// Redacted is what a redacted value reads as.
const Redacted = "[REDACTED]"

// LogOptions chooses the handler.
type LogOptions struct {
	Level   slog.Level
	Format  string // json | text
	Service string // axon-api | axon-worker
	Env     string
}

// NewLogger builds the process logger: JSON lines with service and env, or readable text,
// both passing every attribute through Redact.
func NewLogger(w io.Writer, o LogOptions) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.Level, ReplaceAttr: redactAttr}
	var h slog.Handler
	if o.Format == "text" {
		h = slog.NewTextHandler(w, ho)
	} else {
		h = slog.NewJSONHandler(w, ho)
	}
	l := slog.New(h)
	if o.Service != "" {
		l = l.With("service", o.Service)
	}
	if o.Env != "" {
		l = l.With("env", o.Env)
	}
	return l
}

// IsSecretKey reports whether an attribute or field name names a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, r := range redactedKeys {
		if strings.Contains(k, r) {
			return true
		}
	}
	return false
}

// RedactString masks bearer tokens and secret-looking query parameters inside free text.
func RedactString(s string) string {
	return bearerRe.ReplaceAllString(s, "${1}"+Redacted)
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a
	}
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); bearerRe.MatchString(s) {
			return slog.String(a.Key, RedactString(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, RedactString(err.Error()))
		}
	}
	return a
}
