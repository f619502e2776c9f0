// Command all is `make bench`: it runs every scenario of the benchmark suite, each against a
// baseline measured in the same run, and prints one table (scenario | baseline | measured |
// ratio | target | verdict). With -write FILE it also replaces the table section of FILE
// (docs/performance.md) between its markers.
//
// Scenarios, and what starts them:
//   - authenticated read and inbound webhook: bench/internal/httpbench builds axon and the
//     baseline server (bench/authme/bare), creates and migrates a database of its own, starts
//     both; the webhook row says "not built yet" while axon has no WhatsApp webhook route;
//   - job pick-up, ingestion, chat pipeline, SSE fan-out: the Benchmark functions beside the
//     code (go test -bench, each on a database cloned by pgtest);
//   - filtered vector search: bench/knowledge -quick (its own database);
//   - backup 1 GB: bench/backup, only with BENCH_BACKUP=1 (it takes many minutes).
//
// It needs Postgres with pgvector and Redis (make setup), like make test. Knobs (environment):
// BENCH_ONLY (comma list of auth, webhook, pickup, ingest, vector, chat, sse, backup),
// BENCH_HTTP_DURATION (10s: per server, per HTTP scenario), BENCH_CLIENTS (32),
// BENCH_VECTOR_ROWS (100000), BENCH_INGEST_DOCS (20), BENCH_CHAT_MESSAGES (100),
// BENCH_SSE_EVENTS (200), BENCH_BACKUP (unset), BENCH_BACKUP_ARGS (extra bench/backup flags),
// BENCH_COMMIT (the commit named in the head line; default git describe).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/axonhq/axon/bench/internal/benchenv"
	"github.com/axonhq/axon/bench/internal/httpbench"
)

// row is one line of the table.
type row struct {
	Scenario, Baseline, Measured, Ratio, Target, Verdict string
}

func main() {
	write := flag.String("write", "", "replace the table section of this file (docs/performance.md)")
	verbose := flag.Bool("v", false, "show the scenarios' own output")
	flag.Parse()
	if err := run(*write, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
		return n
	}
	return def
}

type suite struct {
	dbURL, redisURL string
	verbose         bool
	out             io.Writer // progress
	only            map[string]bool
}

func (s *suite) want(name string) bool {
	if name == "backup" && os.Getenv("BENCH_BACKUP") == "" && !s.only["backup"] {
		return false
	}
	return len(s.only) == 0 || s.only[name]
}

func run(write string, verbose bool) error {
	s := &suite{
		dbURL:    benchenv.Get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"),
		redisURL: benchenv.Get("REDIS_URL", "redis://127.0.0.1:6379/0"),
		verbose:  verbose, out: os.Stderr, only: map[string]bool{},
	}
	for _, n := range strings.Split(os.Getenv("BENCH_ONLY"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.only[n] = true
		}
	}
	start := time.Now()
	load1 := loadAvg()
	var rows []row
	rows = append(rows, s.http()...)
	for _, sc := range []struct {
		name string
		fn   func() row
	}{
		{"pickup", s.pickup},
		{"ingest", s.ingest},
		{"vector", s.vector},
		{"chat", s.chat},
		{"sse", s.sse},
		{"backup", s.backup},
	} {
		if s.want(sc.name) {
			fmt.Fprintf(s.out, "== %s\n", sc.name)
			rows = append(rows, sc.fn())
		} else if sc.name == "backup" {
			rows = append(rows, row{Scenario: "backup 1 GB", Baseline: "`pg_dump > /dev/null`", Target: "≥ 0.8×, RSS < 64 MB", Verdict: "skipped (BENCH_BACKUP=1 runs it)"})
		}
	}
	table := markdown(rows)
	head := fmt.Sprintf("%s, commit %s, %d cores, load average %s at the start; %s in all.",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), commit(), runtime.NumCPU(), load1, time.Since(start).Round(time.Second))
	fmt.Println()
	fmt.Println(head)
	fmt.Println()
	printTable(os.Stdout, rows)
	if write != "" {
		if err := writeSection(write, head, table); err != nil {
			return err
		}
		fmt.Printf("\nwritten to %s\n", write)
	}
	return nil
}

// http runs the two scenarios on one pair of servers.
func (s *suite) http() []row {
	auth := row{Scenario: "authenticated read `GET /v1/auth/me`", Baseline: "echo doing the same Postgres read", Target: "≥ 0.8× req/s, p99 ≤ 1.5×"}
	hook := row{Scenario: "inbound webhook (verify, store, enqueue)", Baseline: "bare `INSERT` + River insert", Target: "≥ 0.5×, and ≥ 2,000/s"}
	if !s.want("auth") && !s.want("webhook") {
		return nil
	}
	fmt.Fprintln(s.out, "== auth, webhook")
	o := httpbench.Options{DatabaseURL: s.dbURL, RedisURL: s.redisURL}
	if s.verbose {
		o.Log = os.Stderr
	}
	e, err := httpbench.Start(o)
	if err != nil {
		auth.Verdict, hook.Verdict = "error: "+short(err), "error: "+short(err)
		return []row{auth, hook}
	}
	defer e.Close()
	d, _ := time.ParseDuration(benchenv.Get("BENCH_HTTP_DURATION", "10s"))
	c := envInt("BENCH_CLIENTS", 32)
	var out []row
	if s.want("auth") {
		r, err := e.Auth(httpbench.AuthOptions{Conc: c, Dur: d})
		if err != nil {
			auth.Verdict = "error: " + short(err)
		} else {
			tput, p99 := r.Full.RPS/r.Base.RPS, ratio(r.Full.P99, r.Base.P99)
			auth.Baseline = fmt.Sprintf("%s: %.0f req/s, p99 %s", auth.Baseline, r.Base.RPS, ms(r.Base.P99))
			auth.Measured = fmt.Sprintf("%.0f req/s, p99 %s (%d users, %d addresses, real limits; %d errors)", r.Full.RPS, ms(r.Full.P99), r.Users, r.IPs, r.Full.Errors)
			auth.Ratio = fmt.Sprintf("%.2f× req/s, p99 %.2f×", tput, p99)
			auth.Verdict = verdict(tput >= 0.8 && p99 <= 1.5 && r.Full.Errors == 0)
		}
		out = append(out, auth)
	}
	if s.want("webhook") {
		r, err := e.Webhook(httpbench.WebhookOptions{Conc: c, Dur: d})
		switch {
		case errors.Is(err, httpbench.ErrNotBuilt):
			hook.Verdict = "not built yet (no WhatsApp webhook route; the row measures once it lands)"
		case err != nil:
			hook.Verdict = "error: " + short(err)
		default:
			x := r.Full.RPS / r.Base.RPS
			hook.Baseline = fmt.Sprintf("%s: %.0f/s, p99 %s", hook.Baseline, r.Base.RPS, ms(r.Base.P99))
			hook.Measured = fmt.Sprintf("%.0f/s, p99 %s (%d errors)", r.Full.RPS, ms(r.Full.P99), r.Full.Errors)
			hook.Ratio = fmt.Sprintf("%.2f×", x)
			hook.Verdict = verdict(x >= 0.5 && r.Full.RPS >= 2000 && r.Full.Errors == 0)
		}
		out = append(out, hook)
	}
	return out
}

func (s *suite) pickup() row {
	r := row{Scenario: "job pick-up (commit → Work, LISTEN driver)", Baseline: "—", Target: "p50 < 20 ms, p95 < 100 ms"}
	m, err := s.goBench("./platform/queue/", "PickupLatency/^listen$", "1x")
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	r.Measured = fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (200 jobs)", m["p50-ms"], m["p95-ms"], m["p99-ms"])
	r.Ratio = "—"
	r.Verdict = verdict(m["p50-ms"] < 20 && m["p95-ms"] < 100)
	return r
}

func (s *suite) ingest() row {
	r := row{Scenario: "ingestion, instant embedder (200-chunk documents, HNSW index)", Baseline: "raw COPY of the same rows", Target: "≥ 0.8×"}
	m, err := s.goBench("./modules/ingestion/", "IngestThroughput/^hnsw$", strconv.Itoa(envInt("BENCH_INGEST_DOCS", 20))+"x")
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	r.Baseline = fmt.Sprintf("%s: %.0f chunks/s", r.Baseline, m["rawcopy-chunks/s"])
	r.Measured = fmt.Sprintf("%.0f chunks/s", m["pipeline-chunks/s"])
	r.Ratio = fmt.Sprintf("%.2f×", m["ratio"])
	r.Verdict = verdict(m["ratio"] >= 0.8)
	return r
}

func (s *suite) vector() row {
	rows := envInt("BENCH_VECTOR_ROWS", 100_000)
	r := row{Scenario: fmt.Sprintf("filtered vector search, %dk chunks, 20 agents (top 10 of one agent)", rows/1000), Baseline: "exact scan", Target: "p95 < 20 ms, recall@10 ≥ 0.95, always k rows"}
	f, err := os.CreateTemp("", "bench-vector-*.json")
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	f.Close()
	defer os.Remove(f.Name())
	if _, err := s.command("go", "run", "./bench/knowledge", "-quick", "-rows", strconv.Itoa(rows), "-json", f.Name()); err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	var m map[string]float64
	b, _ := os.ReadFile(f.Name())
	if err := json.Unmarshal(b, &m); err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	r.Baseline = fmt.Sprintf("exact scan: p95 %.1f ms, recall 1", m["exact_p95_ms"])
	r.Measured = fmt.Sprintf("HNSW + iterative scan: p50 %.1f ms, p95 %.1f ms, recall@10 %.3f, min rows %.0f", m["p50_ms"], m["p95_ms"], m["recall"], m["min_rows"])
	r.Ratio = fmt.Sprintf("p95 %.2f×", m["p95_ms"]/m["exact_p95_ms"])
	r.Verdict = verdict(m["p95_ms"] < 20 && m["recall"] >= 0.95 && m["min_rows"] >= 10)
	return r
}

func (s *suite) chat() row {
	r := row{Scenario: "chat pipeline overhead, instant provider", Baseline: "one message `INSERT`", Target: "≤ 5×"}
	// Paired: a bare INSERT timed beside each message, medians of both (the unpaired
	// BenchmarkPipelineOverhead timed its INSERTs before the loop, and commit cost on a
	// shared machine moves several-fold within a minute).
	m, err := s.goBench("./modules/channels/", "PipelinePaired", strconv.Itoa(envInt("BENCH_CHAT_MESSAGES", 300))+"x")
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	r.Baseline = fmt.Sprintf("one message INSERT beside each message: median %.2f ms", m["insert-p50-ms"])
	r.Measured = fmt.Sprintf("median %.2f ms a message", m["msg-p50-ms"])
	r.Ratio = fmt.Sprintf("%.1f×", m["x-insert"])
	r.Verdict = verdict(m["x-insert"] <= 5)
	return r
}

func (s *suite) sse() row {
	r := row{Scenario: "SSE fan-out across two replicas (PATCH on 1 → frame on 2)", Baseline: "bare LISTEN of the same NOTIFY", Target: "p99 < 50 ms"}
	m, err := s.goBench("./e2e/", "EventFanOutTwoServers", strconv.Itoa(envInt("BENCH_SSE_EVENTS", 200))+"x")
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	r.Baseline = fmt.Sprintf("LISTEN: p50 %.1f ms, p99 %.1f ms", m["listen-p50-ms"], m["listen-p99-ms"])
	r.Measured = fmt.Sprintf("replica 2 frame: p50 %.1f ms, p99 %.1f ms (hub + SSE add p99 %.1f ms)", m["replica2-p50-ms"], m["replica2-p99-ms"], m["extra-p99-ms"])
	r.Ratio = "—"
	r.Verdict = verdict(m["replica2-p99-ms"] < 50)
	return r
}

var (
	backupRatio = regexp.MustCompile(`backup throughput ([0-9.]+)× pg_dump`)
	backupRSS   = regexp.MustCompile(`peak RSS ([0-9.]+) ?([KMG]i?B)`)
)

func (s *suite) backup() row {
	r := row{Scenario: "backup 1 GB", Baseline: "`pg_dump > /dev/null`", Target: "≥ 0.8×, RSS < 64 MB"}
	if _, err := os.Stat("bench/backup"); err != nil {
		r.Verdict = "not built yet (bench/backup)"
		return r
	}
	args := append([]string{"run", "./bench/backup"}, strings.Fields(os.Getenv("BENCH_BACKUP_ARGS"))...)
	out, err := s.command("go", args...)
	if err != nil {
		r.Verdict = "error: " + short(err)
		return r
	}
	m := backupRatio.FindStringSubmatch(out)
	rss := backupRSS.FindStringSubmatch(out)
	if m == nil || rss == nil {
		r.Verdict = "error: bench/backup printed no summary line"
		return r
	}
	x, _ := strconv.ParseFloat(m[1], 64)
	mb, _ := strconv.ParseFloat(rss[1], 64)
	switch rss[2][0] {
	case 'K':
		mb /= 1024
	case 'G':
		mb *= 1024
	}
	r.Measured = fmt.Sprintf("backup throughput %.2f× pg_dump's, peak RSS %s %s", x, rss[1], rss[2])
	r.Ratio = fmt.Sprintf("%.2f×", x)
	r.Verdict = verdict(x >= 0.8 && mb < 64)
	return r
}

// goBench runs one Benchmark function and returns the metrics of its last result line.
func (s *suite) goBench(pkg, pattern, benchtime string) (map[string]float64, error) {
	out, err := s.command("go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", "1", "-timeout", "20m", pkg)
	if err != nil {
		return nil, err
	}
	// The result line may follow log lines written on the benchmark's line ("Benchmark…-2
	// <log>\n  N  123 ns/op  4.5 unit…"): take every "value unit" pair of lines with ns/op.
	var m map[string]float64
	for _, line := range strings.Split(out, "\n") {
		// A result line has ns/op, unless the benchmark reports only its own metrics (it
		// zeroes ns/op): then it is the "BenchmarkName-N <tab> iterations <tab> …" line.
		if !strings.Contains(line, " ns/op") && (!strings.HasPrefix(line, "Benchmark") || strings.Count(line, "\t") < 2) {
			continue
		}
		m = map[string]float64{}
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if _, err := strconv.ParseFloat(f[i+1], 64); err != nil {
				m[f[i+1]] = v
				i++
			}
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%s: no benchmark result in the output", pkg)
	}
	return m, nil
}

// command runs a command of the repository with the test environment; its output is
// returned (and shown with -v).
func (s *suite) command(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "APP_ENV=test", "DATABASE_URL="+s.dbURL, "REDIS_URL="+s.redisURL)
	var buf bytes.Buffer
	if s.verbose {
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = io.MultiWriter(&buf, os.Stderr)
	} else {
		cmd.Stdout, cmd.Stderr = &buf, &buf
	}
	err := cmd.Run()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		tail := lines[max(0, len(lines)-3):]
		return buf.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.Join(tail, " | "))
	}
	return buf.String(), nil
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "**miss**"
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func short(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func commit() string {
	if c := os.Getenv("BENCH_COMMIT"); c != "" {
		return c
	}
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func markdown(rows []row) string {
	var b strings.Builder
	b.WriteString("| scenario | baseline (same run) | measured | ratio | target | verdict |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Baseline, dash(r.Measured), dash(r.Ratio), r.Target, r.Verdict)
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tbaseline (same run)\tmeasured\tratio\ttarget\tverdict")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Baseline, dash(r.Measured), dash(r.Ratio), r.Target, r.Verdict)
	}
	_ = tw.Flush()
}

// The table section of docs/performance.md lies between these markers.
const (
	beginMark = "<!-- make bench: begin (written by bench/all; do not edit by hand) -->"
	endMark   = "<!-- make bench: end -->"
)

// writeSection replaces the text between the markers of path (or appends a section with
// them) with the run's head line and table.
func writeSection(path, head, table string) error {
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return err
	}
	doc := string(b)
	body := beginMark + "\n\n" + head + "\n\n" + table + "\n" + endMark
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if i >= 0 && j > i {
		doc = doc[:i] + body + doc[j+len(endMark):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n## The benchmark suite (`make bench`)\n\n" + body + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644) //nolint:gosec // a documentation file
}
