package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Progress intervals: a terminal line is redrawn at most every ttyEvery; without a terminal
// (a cron job, a container's log) one log line is written every logEvery, so a long backup
// shows it is alive without flooding the log.
const (
	ttyEvery = 250 * time.Millisecond
	logEvery = 10 * time.Second
)

// meter reports the progress of a transfer (bytes and rate): on a terminal as one line
// redrawn in place, otherwise as a plain log line every logEvery. update is called from the
// transfer's goroutine after every read and is cheap between reports.
type meter struct {
	w     io.Writer
	log   *slog.Logger
	tty   bool
	verb  string
	now   func() time.Time
	start time.Time

	mu   sync.Mutex
	last time.Time // last report; the zero time before the first
}

// newMeter returns a meter writing to w when w is a terminal, else logging to log.
func newMeter(w io.Writer, log *slog.Logger, verb string) *meter {
	f, ok := w.(*os.File)
	return newMeterAt(w, log, verb, ok && term.IsTerminal(int(f.Fd())), time.Now)
}

func newMeterAt(w io.Writer, log *slog.Logger, verb string, tty bool, now func() time.Time) *meter {
	m := &meter{w: w, log: log, tty: tty, verb: verb, now: now}
	m.start, m.last = now(), now()
	return m
}

// update records that n bytes have been transferred so far.
func (m *meter) update(n int64) {
	every := logEvery
	if m.tty {
		every = ttyEvery
	}
	t := m.now()
	m.mu.Lock()
	if t.Sub(m.last) < every {
		m.mu.Unlock()
		return
	}
	m.last = t
	m.mu.Unlock()
	elapsed := t.Sub(m.start)
	if m.tty {
		fmt.Fprintf(m.w, "\r\033[K%s", progressLine(m.verb, n, elapsed))
		return
	}
	if m.log != nil {
		m.log.Info("backup progress", "verb", m.verb, "bytes", n, "size", humanBytes(n),
			"seconds", roundTo(elapsed.Seconds(), 1), "mbPerSecond", roundTo(rate(n, elapsed), 1))
	}
}

// done ends a terminal's progress line: the final figures, or nothing after a failure.
func (m *meter) done(size int64, elapsed time.Duration, err error) {
	if !m.tty {
		return
	}
	if err != nil {
		fmt.Fprint(m.w, "\r\033[K")
		return
	}
	fmt.Fprintf(m.w, "\r\033[K%s in %s\n", progressLine(m.verb, size, elapsed), elapsed.Round(100*time.Millisecond))
}

// progressLine is "dumped 1.23 GB  98.4 MB/s".
func progressLine(verb string, n int64, elapsed time.Duration) string {
	return fmt.Sprintf("%s %s  %.1f MB/s", verb, humanBytes(n), rate(n, elapsed))
}

// rate is n bytes over elapsed in MB (10^6 bytes) per second; 0 before any time has passed.
func rate(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / 1e6 / elapsed.Seconds()
}

func roundTo(v float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
