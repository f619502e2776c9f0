// Package benchenv holds the two helpers every bench command uses: an environment variable
// with a default, and a timestamped progress line on stderr.
package benchenv

import (
	"fmt"
	"os"
	"time"
)

// Get returns the environment variable k, or def when it is unset or empty.
func Get(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Logf prints one progress line on stderr, prefixed with the time of day.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
