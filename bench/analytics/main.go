// Command analytics measures the analytics routes at size through the real HTTP stack. It
//
//  1. builds the axon binary, creates its own database (axon_bench_analytics), migrates it
//     with `axon migrate` and starts `axon serve` as a child process (so that its peak RSS
//     can be read from /proc/<pid>/status);
//  2. registers a user through POST /v1/auth/register, gives the workspace 5 agents and
//     fills it server-side (generate_series, the generator of modules/analytics'
//     TestExplainAtSize) with -messages messages over the last 90 days, plus a tenth as many
//     in another workspace; then rolls the 90 days up with `axon analytics backfill`;
//  3. sends -n sequential requests per case, after a warm-up: GET /v1/analytics (summary
//     from the raw tables + series from the rollups) over 7, 30 and 90 days with interval
//     day and week, and GET /v1/analytics/agents/:id over 7, 30 and 90 days; each request
//     is followed by the same-run baseline, a bare
//     `SELECT count(*) FROM messages WHERE workspace_id = $1 AND created_at in the range`
//     from this process (the least any summary of the range must read);
//  4. exports the 90 days with GET /v1/analytics/export?format=csv (-export-rounds times,
//     and once as JSON), each round followed by the baseline `COPY (the export's query) TO
//     STDOUT (FORMAT csv)` over pgx: rows/s, MB/s, time to the first byte, and serve's RSS
//     and peak RSS (VmHWM, reset through /proc/<pid>/clear_refs before each export so the
//     peak is the export's own);
//  5. prints one table and drops the database (unless -keep).
//
// It exits non-zero when a request fails or an export's row count differs from the
// baseline's.
//
//	go run ./bench/analytics                    # 1 M messages, about 6 min on 2 cores
//	go run ./bench/analytics -messages 100000 -n 20
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/lib/pq" // database/sql driver "postgres"

	"github.com/axonhq/axon/bench/internal/benchenv"
	"github.com/axonhq/axon/bench/internal/load"
	"github.com/axonhq/axon/platform/testkit/pgtest"
)

type options struct {
	base         string
	redis        string
	name         string
	messages     int
	n            int
	exportRounds int
	keep         bool
	bin          string
}

const (
	benchEmail    = "analytics-bench@example.com"
	benchPassword = "benchmark-password"
	agentCount    = 5
)

func main() {
	var o options
	flag.StringVar(&o.base, "db", benchenv.Get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"), "any database URL on the server; the run uses its own database next to it")
	flag.StringVar(&o.redis, "redis", os.Getenv("REDIS_URL"), "REDIS_URL of serve (empty: in-process cache and limiter)")
	flag.StringVar(&o.name, "name", "axon_bench_analytics", "the run's database")
	flag.IntVar(&o.messages, "messages", 1_000_000, "messages of the measured workspace over 90 days (10 per conversation)")
	flag.IntVar(&o.n, "n", 50, "measured requests per case")
	flag.IntVar(&o.exportRounds, "export-rounds", 2, "CSV export / COPY pairs")
	flag.BoolVar(&o.keep, "keep", false, "keep the database afterwards")
	flag.StringVar(&o.bin, "bin", "", "an axon binary to run instead of building the working tree's")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/analytics:", err)
		os.Exit(1)
	}
}

type bench struct {
	o      options
	dbURL  string
	db     *sql.DB
	base   string // serve's URL
	token  string
	ws     string
	agents []string
	client *http.Client
	serve  *exec.Cmd
}

func run(ctx context.Context, o options) (err error) {
	if o.n < 1 || o.exportRounds < 1 || o.messages < 10 {
		return errors.New("-n and -export-rounds must be at least 1, -messages at least 10")
	}
	b := &bench{o: o, dbURL: pgtest.WithDatabase(o.base, o.name), client: &http.Client{Timeout: 10 * time.Minute}}
	admin, err := sql.Open("postgres", pgtest.WithDatabase(o.base, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+o.name+` WITH (FORCE)`); err != nil {
		return err
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+o.name); err != nil {
		return err
	}
	if !o.keep {
		defer func() {
			_, _ = admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+o.name+` WITH (FORCE)`)
		}()
	}
	if b.db, err = sql.Open("postgres", b.dbURL); err != nil {
		return err
	}
	defer b.db.Close()

	tmp, err := os.MkdirTemp("", "axon-bench-analytics")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := o.bin
	if bin == "" {
		benchenv.Logf("building the axon binary")
		if bin, err = load.Build(tmp, ".", "axon"); err != nil {
			return fmt.Errorf("go build (run from the repository root): %w", err)
		}
	}
	port := freePort()
	axonEnv := append(os.Environ(),
		"APP_ENV=test", "LOG_LEVEL=error", "LOG_FORMAT=text", "DATABASE_URL="+b.dbURL, "REDIS_URL="+o.redis,
		"PORT="+strconv.Itoa(port), "JWT_EXPIRES_IN=6h",
		// One user sends every request: the per-user limit (120/min) is not the subject.
		"RATE_LIMIT_SCALE=1000")
	benchenv.Logf("migrating")
	if out, err := command(bin, axonEnv, "migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	b.serve = command(bin, axonEnv, "serve")
	b.serve.Stdout, b.serve.Stderr = os.Stderr, os.Stderr
	if err := b.serve.Start(); err != nil {
		return err
	}
	defer b.stopServe()
	b.base = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := load.WaitHTTP(b.base+"/health", 30*time.Second); err != nil {
		return err
	}
	if err := b.register(); err != nil {
		return err
	}

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -89)
	agents, other, otherAgent, err := tenants(ctx, b.db, b.ws, agentCount)
	if err != nil {
		return err
	}
	b.agents = agents
	benchenv.Logf("filling %d messages over %s..%s (+%d in another workspace)", o.messages, start.Format(time.DateOnly), now.Format(time.RFC3339), o.messages/10)
	t0 := time.Now()
	if err := fill(ctx, b.db, b.ws, agents, other, otherAgent, o.messages, start, now); err != nil {
		return err
	}
	fillTime := time.Since(t0)
	var dbSize int64
	if err := b.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbSize); err != nil {
		return err
	}
	benchenv.Logf("filled in %s; database %d MiB", fillTime.Round(time.Second), dbSize>>20)

	benchenv.Logf("rolling up 90 days with axon analytics backfill")
	t0 = time.Now()
	if out, err := command(bin, axonEnv, "analytics", "backfill", "--from", start.Format(time.DateOnly), "--to", today.Format(time.DateOnly)).CombinedOutput(); err != nil {
		return fmt.Errorf("backfill: %v\n%s", err, out)
	}
	backfill := time.Since(t0)
	var rollups int
	if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM analytics_rollups`).Scan(&rollups); err != nil {
		return err
	}
	benchenv.Logf("backfill: %d rollup rows in %s", rollups, backfill.Round(time.Millisecond))

	rssStart := readRSS(b.serve.Process.Pid)
	var cases []caseResult
	for _, days := range []int{7, 30, 90} {
		from := today.AddDate(0, 0, -(days - 1))
		for _, iv := range []string{"day", "week"} {
			r, err := b.measure(ctx, fmt.Sprintf("GET /v1/analytics %d days, %s", days, iv),
				fmt.Sprintf("/v1/analytics?from=%s&to=%s&interval=%s", from.Format(time.DateOnly), today.Format(time.DateOnly), iv), from, today)
			if err != nil {
				return err
			}
			cases = append(cases, r)
		}
	}
	for _, days := range []int{7, 30, 90} {
		from := today.AddDate(0, 0, -(days - 1))
		r, err := b.measure(ctx, fmt.Sprintf("GET /v1/analytics/agents/:id %d days", days),
			fmt.Sprintf("/v1/analytics/agents/%s?from=%s&to=%s", agents[0], from.Format(time.DateOnly), today.Format(time.DateOnly)), from, today)
		if err != nil {
			return err
		}
		cases = append(cases, r)
	}
	rssQueries := readRSS(b.serve.Process.Pid)

	from := start
	var exports, copies []exportResult
	for r := 1; r <= o.exportRounds; r++ {
		benchenv.Logf("export round %d/%d: CSV through serve, then COPY", r, o.exportRounds)
		e, err := b.export(ctx, "csv", from, today)
		if err != nil {
			return err
		}
		c, err := b.copyBaseline(ctx, from, today)
		if err != nil {
			return err
		}
		if e.rows != c.rows {
			return fmt.Errorf("the CSV export has %d rows, COPY of the same query %d", e.rows, c.rows)
		}
		exports, copies = append(exports, e), append(copies, c)
	}
	benchenv.Logf("export: JSON through serve")
	js, err := b.export(ctx, "json", from, today)
	if err != nil {
		return err
	}
	if js.rows != copies[0].rows {
		return fmt.Errorf("the JSON export has %d rows, COPY %d", js.rows, copies[0].rows)
	}

	report(o, cases, exports, copies, js, rssStart, rssQueries, fillTime, backfill, rollups, dbSize)
	return nil
}

func command(bin string, env []string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Env = env
	return c
}

func (b *bench) stopServe() {
	if b.serve == nil || b.serve.Process == nil {
		return
	}
	_ = b.serve.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.serve.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = b.serve.Process.Kill()
		<-done
	}
}

func (b *bench) register() error {
	body, _ := json.Marshal(map[string]string{"name": "Analytics Bench", "email": benchEmail, "password": benchPassword})
	res, err := b.client.Post(b.base+"/v1/auth/register", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"accessToken"`
		Workspace   struct {
			ID string `json:"id"`
		} `json:"workspace"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" || out.Workspace.ID == "" {
		return fmt.Errorf("register: status %d %v", res.StatusCode, err)
	}
	b.token, b.ws = out.AccessToken, out.Workspace.ID
	return nil
}

func (b *bench) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	res, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		res.Body.Close()
		return nil, fmt.Errorf("GET %s: %d %s", path, res.StatusCode, msg)
	}
	return res, nil
}

type caseResult struct {
	name               string
	messages           int // the summary's totalMessages (the data the request read)
	seriesBuckets      int
	p50, p95, max      time.Duration
	baseP50, baseP95   time.Duration
	baseCount          int
	responseBytes      int
	requests, baseline int
}

// measure sends warm-up requests, then o.n requests to path, each followed by the
// baseline count over [from, to] (dates, both included).
func (b *bench) measure(ctx context.Context, name, path string, from, to time.Time) (caseResult, error) {
	r := caseResult{name: name}
	var lats, base []time.Duration
	one := func(record bool) error {
		t0 := time.Now()
		res, err := b.get(path)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		d := time.Since(t0)
		t0 = time.Now()
		var n int
		if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3`,
			b.ws, from, to.AddDate(0, 0, 1)).Scan(&n); err != nil {
			return err
		}
		bd := time.Since(t0)
		if !record {
			var rep struct {
				Summary struct {
					TotalMessages int `json:"totalMessages"`
				} `json:"summary"`
				Series []json.RawMessage `json:"series"`
			}
			if err := json.Unmarshal(body, &rep); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r.messages, r.seriesBuckets, r.responseBytes, r.baseCount = rep.Summary.TotalMessages, len(rep.Series), len(body), n
			return nil
		}
		lats, base = append(lats, d), append(base, bd)
		return nil
	}
	for range 3 {
		if err := one(false); err != nil {
			return r, err
		}
	}
	for range b.o.n {
		if err := one(true); err != nil {
			return r, err
		}
	}
	r.p50, r.p95, r.max = pct(lats, 50), pct(lats, 95), slices.Max(lats)
	r.baseP50, r.baseP95 = pct(base, 50), pct(base, 95)
	r.requests, r.baseline = len(lats), len(base)
	benchenv.Logf("%s: p50 %s p95 %s (count(*) p95 %s), %d messages", name, ms(r.p50), ms(r.p95), ms(r.baseP95), r.messages)
	return r, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

type exportResult struct {
	name          string
	rows, bytes   int64
	elapsed, ttfb time.Duration
	// serve's resident set: before the export, its peak during the export (VmHWM after a
	// clear_refs reset; peakSinceStart when the reset was refused) and after it.
	rssBefore, peak, rssAfter int64
	peakSinceStart            bool
}

// counter counts bytes and newlines, and when the first byte came.
type counter struct {
	start       time.Time
	first       time.Duration
	bytes, nl   int64
	sawAnything bool
}

func (c *counter) Write(p []byte) (int, error) {
	if !c.sawAnything && len(p) > 0 {
		c.sawAnything, c.first = true, time.Since(c.start)
	}
	c.bytes += int64(len(p))
	c.nl += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

func (b *bench) export(_ context.Context, format string, from, to time.Time) (exportResult, error) {
	pid := b.serve.Process.Pid
	r := exportResult{name: "GET /v1/analytics/export?format=" + format + " (90 days)", rssBefore: readRSS(pid).rss}
	r.peakSinceStart = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) != nil
	c := &counter{start: time.Now()}
	res, err := b.get(fmt.Sprintf("/v1/analytics/export?format=%s&from=%s&to=%s", format, from.Format(time.DateOnly), to.Format(time.DateOnly)))
	if err != nil {
		return r, err
	}
	_, err = io.Copy(c, res.Body)
	res.Body.Close()
	if err != nil {
		return r, err
	}
	r.elapsed, r.ttfb, r.bytes = time.Since(c.start), c.first, c.bytes
	r.rows = c.nl - 1 // CSV: a header line; JSON: one encoded row per line, then "]\n"
	after := readRSS(pid)
	r.peak, r.rssAfter = after.hwm, after.rss
	benchenv.Logf("%s: %d rows, %d MiB in %s (%.0f rows/s), first byte after %s, serve peak RSS %d MiB", r.name, r.rows, r.bytes>>20,
		r.elapsed.Round(time.Millisecond), float64(r.rows)/r.elapsed.Seconds(), ms(r.ttfb), r.peak>>20)
	return r, nil
}

// qExport is modules/analytics' export query (store.go), with the arguments inlined: COPY
// takes no parameters.
const qExport = `
SELECT m.created_at, m.conversation_id, c.agent_id, c.channel_type, m.role, m.content,
       m.confidence, m.latency_ms,
       m.conversation_id IN (SELECT h.conversation_id FROM handoffs h WHERE h.workspace_id = $1) AS handed_off
FROM messages m
JOIN conversations c ON c.id = m.conversation_id
WHERE m.workspace_id = $1 AND m.created_at >= $2 AND m.created_at < $3
ORDER BY m.created_at, m.id`

// copyBaseline runs COPY (qExport) TO STDOUT (FORMAT csv) over pgx and counts what arrives.
func (b *bench) copyBaseline(ctx context.Context, from, to time.Time) (exportResult, error) {
	r := exportResult{name: "baseline: COPY (same query) TO STDOUT csv, pgx"}
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return r, err
	}
	defer conn.Close(ctx)
	lit := func(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'::timestamptz" }
	q := strings.NewReplacer("$1", "'"+b.ws+"'::uuid", "$2", lit(from), "$3", lit(to.AddDate(0, 0, 1))).Replace(qExport)
	c := &counter{start: time.Now()}
	tag, err := conn.PgConn().CopyTo(ctx, c, "COPY ("+q+") TO STDOUT (FORMAT csv)")
	if err != nil {
		return r, err
	}
	r.elapsed, r.ttfb, r.bytes, r.rows = time.Since(c.start), c.first, c.bytes, tag.RowsAffected()
	benchenv.Logf("%s: %d rows, %d MiB in %s (%.0f rows/s)", r.name, r.rows, r.bytes>>20, r.elapsed.Round(time.Millisecond), float64(r.rows)/r.elapsed.Seconds())
	return r, nil
}

type rss struct{ rss, hwm int64 } // bytes

func readRSS(pid int) rss {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}
	}
	var out rss
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			out.rss = kb << 10
		case "VmHWM:":
			out.hwm = kb << 10
		}
	}
	return out
}

func report(o options, cases []caseResult, exports, copies []exportResult, js exportResult, rssStart, rssQueries rss,
	fillTime, backfill time.Duration, rollups int, dbSize int64,
) {
	fmt.Printf("\nanalytics at size: %d messages over 90 days in the measured workspace (+%d in another), database %d MiB\n",
		o.messages, o.messages/10, dbSize>>20)
	fmt.Printf("fill %s; axon analytics backfill of 90 days: %s (%d rollup rows); %d sequential requests per case after 3 warm-ups\n\n",
		fillTime.Round(time.Second), backfill.Round(time.Millisecond), rollups, o.n)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tmessages read\tbuckets\tp50 ms\tp95 ms\tmax ms\tcount(*) p50 ms\tcount(*) p95 ms\tp95 / count(*) p95\t")
	for _, c := range cases {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%.1f\t\n", c.name, c.messages, c.seriesBuckets, ms(c.p50), ms(c.p95), ms(c.max),
			ms(c.baseP50), ms(c.baseP95), float64(c.p95)/float64(max(1, c.baseP95)))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "export\trows\tMiB\tseconds\trows/s\tMiB/s\tfirst byte ms\tserve RSS before MiB\tserve peak RSS MiB\t")
	row := func(e exportResult, serve bool) {
		b, a := "-", "-"
		if serve {
			b, a = strconv.FormatInt(e.rssBefore>>20, 10), strconv.FormatInt(e.peak>>20, 10)
			if e.peakSinceStart {
				a += " (since start)"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.0f\t%.1f\t%s\t%s\t%s\t\n", e.name, e.rows, float64(e.bytes)/(1<<20), e.elapsed.Seconds(),
			float64(e.rows)/e.elapsed.Seconds(), float64(e.bytes)/(1<<20)/e.elapsed.Seconds(), ms(e.ttfb), b, a)
	}
	for i := range exports {
		row(exports[i], true)
		row(copies[i], false)
	}
	row(js, true)
	_ = tw.Flush()
	fmt.Printf("\nserve RSS: %d MiB after start-up and registration, %d MiB after the report requests (peak %d MiB), %d MiB after the exports\n",
		rssStart.rss>>20, rssQueries.rss>>20, rssQueries.hwm>>20, js.rssAfter>>20)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
