package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a time source the test advances by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time           { return c.t }
func (c *fakeClock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                { return &fakeClock{t: time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)} }
func lines(s string) []string                 { return strings.Split(strings.TrimSpace(s), "\n") }
func textLogger(w *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		n       int64
		elapsed time.Duration
		want    string
	}{
		{0, 0, "dumped 0 B  0.0 MB/s"},
		{512, time.Second, "dumped 512 B  0.0 MB/s"},
		{250_000_000, 2 * time.Second, "dumped 250.0 MB  125.0 MB/s"},
		{1_234_000_000, 10 * time.Second, "dumped 1.23 GB  123.4 MB/s"},
	} {
		if got := progressLine("dumped", c.n, c.elapsed); got != c.want {
			t.Errorf("progressLine(%d, %s) = %q, want %q", c.n, c.elapsed, got, c.want)
		}
	}
}

// TestMeterLogsEveryIntervalWithoutTTY drives the meter with a fake clock: without a
// terminal it logs one plain line per logEvery (bytes and rate), never a carriage return.
func TestMeterLogsEveryIntervalWithoutTTY(t *testing.T) {
	clk := newFakeClock()
	var out, logs bytes.Buffer
	m := newMeterAt(&out, textLogger(&logs), "dumped", false, clk.now)
	for i := 1; i <= 250; i++ { // 25 s of reads, one every 100 ms, 1 MB each
		clk.add(100 * time.Millisecond)
		m.update(int64(i) * 1_000_000)
	}
	m.done(250_000_000, 25*time.Second, nil)
	if out.Len() != 0 {
		t.Fatalf("wrote to the non-terminal stream: %q", out.String())
	}
	got := lines(logs.String())
	if len(got) != 2 {
		t.Fatalf("want 2 progress lines in 25 s (one per %s), got %d:\n%s", logEvery, len(got), logs.String())
	}
	for i, want := range []string{
		`msg="backup progress" verb=dumped bytes=100000000 size="100.0 MB" seconds=10 mbPerSecond=10`,
		`msg="backup progress" verb=dumped bytes=200000000 size="200.0 MB" seconds=20 mbPerSecond=10`,
	} {
		if !strings.Contains(got[i], want) {
			t.Errorf("line %d = %q, want it to contain %q", i, got[i], want)
		}
	}
}

// TestMeterRedrawsOneLineOnTTY checks the terminal form: redrawn in place (\r, clear to end
// of line) at most every ttyEvery, then a final line with a newline; nothing is logged.
func TestMeterRedrawsOneLineOnTTY(t *testing.T) {
	clk := newFakeClock()
	var out, logs bytes.Buffer
	m := newMeterAt(&out, textLogger(&logs), "restored", true, clk.now)
	for i := 1; i <= 10; i++ { // 1 s of reads, one every 100 ms
		clk.add(100 * time.Millisecond)
		m.update(int64(i) * 100_000)
	}
	m.done(1_000_000, time.Second, nil)
	if logs.Len() != 0 {
		t.Fatalf("logged on a terminal: %q", logs.String())
	}
	s := out.String()
	if n := strings.Count(s, "\r\033[K"); n != 4 { // at 300, 600 and 900 ms (250 ms apart at least), and done
		t.Fatalf("%d redraws, want 4: %q", n, s)
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\r\033[Krestored 1.0 MB  1.0 MB/s in 1s\n") {
		t.Fatalf("terminal output %q", s)
	}
	if !strings.Contains(s, "\r\033[Krestored 300.0 kB  1.0 MB/s") {
		t.Fatalf("first redraw missing: %q", s)
	}

	// A failure clears the line and prints no figures.
	out.Reset()
	m.done(0, 0, errTest)
	if out.String() != "\r\033[K" {
		t.Fatalf("after a failure: %q", out.String())
	}
}

var errTest = errf("boom")
