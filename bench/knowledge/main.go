// Command knowledge measures the knowledge-chunk vector index alternatives on this machine
// and prints one table, so the choice in docs/decisions.md ("Knowledge index") can be
// checked and re-run. It compares the full-precision HNSW index (vector_cosine_ops) with a
// halfvec expression index ((embedding::halfvec(1536)) halfvec_cosine_ops), both m=16
// ef_construction=64 built with maintenance_work_mem = 1GB:
//
//   - bulk COPY into a table without a vector index (rows/s);
//   - build time and size of each index;
//   - top-10 search p50/p95 and recall@10 against exact search, unfiltered (ef_search 40
//     and 100) and under an agent filter with and without hnsw.iterative_scan (rows
//     returned, recall, latency, the plan the planner chose);
//   - the rate of inserts into each indexed table, and into a table without a vector
//     index, in COPY batches of -batch rows, one transaction each, the way ingestion
//     writes a document's chunks.
//
// The two indexes live on two identical tables, and every query and insert batch is run
// against both in turn, so a change of machine load (other processes) affects both sides
// alike; only the two index builds run one after the other.
//
// The data imitates a knowledge base: -rows chunks in one workspace spread over -agents
// agents, with ~100-word texts and 1536-d unit vectors drawn around -topics topic centres
// (real embeddings are clustered, which is what makes HNSW recall meaningful). Exact
// neighbours are computed in Go. The run creates and drops its own database.
//
//	go run ./bench/knowledge                       # 100k rows, 20 agents (~20 min on 2 cores)
//	go run ./bench/knowledge -rows 20000 -insert 300
//	go run ./bench/knowledge -quick -json out.json # bench/all: the application's index only,
//	                                               # the agent-filtered search and its exact scan
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/lib/pq" // database/sql driver "postgres"

	"github.com/axonhq/axon/bench/internal/benchenv"
)

const dims = 1536

type options struct {
	base    string
	rows    int
	agents  int
	topics  int
	queries int
	insert  int
	batch   int
	keep    bool
	quick   bool   // only the vector variant (the application's index), only filtered search
	json    string // write the filtered search's numbers to this file (bench/all)
}

func main() {
	var o options
	flag.StringVar(&o.base, "db", benchenv.Get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"), "any database URL on the server; the run uses its own database next to it")
	flag.IntVar(&o.rows, "rows", 100_000, "chunks in each table")
	flag.IntVar(&o.agents, "agents", 20, "agents the chunks belong to")
	flag.IntVar(&o.topics, "topics", 400, "topic centres the vectors are drawn around")
	flag.IntVar(&o.queries, "queries", 200, "queries per measurement")
	flag.IntVar(&o.insert, "insert", 600, "rows inserted into each table to measure the insert rate")
	flag.IntVar(&o.batch, "batch", 50, "rows per insert transaction (one document's chunks)")
	flag.BoolVar(&o.keep, "keep", false, "keep the benchmark database")
	flag.BoolVar(&o.quick, "quick", false, "only the application's index (vector) and the agent-filtered search with its exact scan")
	flag.StringVar(&o.json, "json", "", "write the agent-filtered search's p50/p95/recall/min rows and the exact scan's p95 to this file")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "knowledge:", err)
		os.Exit(1)
	}
}

func withDB(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("connection_limit")
	q.Del("pool_timeout")
	u.RawQuery = q.Encode()
	return u.String()
}

// variant is one index under test, on its own table.
type variant struct {
	name   string
	table  string
	create string // CREATE INDEX statement
	order  string // ORDER BY expression with $1 the query vector
}

var variants = []variant{
	{
		name:   "vector",
		table:  "bench_vector",
		create: `CREATE INDEX bench_vector_hnsw ON bench_vector USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
		order:  `embedding <=> $1::vector`,
	},
	{
		name:   "halfvec",
		table:  "bench_halfvec",
		create: `CREATE INDEX bench_halfvec_hnsw ON bench_halfvec USING hnsw ((embedding::halfvec(1536)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`,
		order:  `embedding::halfvec(1536) <=> $1::halfvec(1536)`,
	},
}

// tableDDL mirrors knowledge_chunks (without the foreign keys).
const tableDDL = `
CREATE TABLE %[1]s (
    id        bigint PRIMARY KEY,
    agent_id  integer NOT NULL,
    content   text NOT NULL,
    tsv       tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    embedding vector(1536) NOT NULL,
    metadata  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX %[1]s_agent_idx ON %[1]s (agent_id);
CREATE INDEX %[1]s_tsv_idx ON %[1]s USING gin (tsv);`

type row struct {
	agent int
	vec   []float32
	text  string
}

func run(ctx context.Context, o options) error {
	vs := variants
	if o.quick {
		vs, o.insert = variants[:1], 0
	}
	admin, err := sql.Open("postgres", withDB(o.base, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	name := fmt.Sprintf("axon_bench_knowledge_%d", os.Getpid())
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return err
	}
	if !o.keep {
		defer admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) //nolint:errcheck
	}
	db, err := sql.Open("postgres", withDB(o.base, name))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	var pgv, pgVersion, sharedBuffers string
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
		return err
	}
	_ = db.QueryRowContext(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'vector'`).Scan(&pgv)
	_ = db.QueryRowContext(ctx, `SHOW server_version`).Scan(&pgVersion)
	_ = db.QueryRowContext(ctx, `SHOW shared_buffers`).Scan(&sharedBuffers)
	fmt.Printf("knowledge index benchmark: %d rows, %d agents, %d topics, %d queries; Postgres %s, pgvector %s, shared_buffers %s\n\n",
		o.rows, o.agents, o.topics, o.queries, pgVersion, pgv, sharedBuffers)

	for _, t := range []string{"bench_vector", "bench_halfvec", "bench_plain"} {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(tableDDL, t)); err != nil {
			return err
		}
	}

	rng := rand.New(rand.NewPCG(42, 7))
	gen := newGenerator(rng, o.topics)
	data := make([]row, o.rows)
	for i := range data {
		data[i] = gen.row(i % o.agents)
	}
	queries := make([]row, o.queries)
	for i := range queries {
		queries[i] = gen.row(rng.IntN(o.agents))
	}
	extra := make([]row, o.insert)
	for i := range extra {
		extra[i] = gen.row(rng.IntN(o.agents))
	}

	// Bulk load, without vector indexes.
	for i, v := range vs {
		start := time.Now()
		if err := copyRows(ctx, db, v.table, data, 0, 5000); err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		if _, err := db.ExecContext(ctx, `VACUUM ANALYZE `+v.table); err != nil {
			return err
		}
		if i == 0 {
			var tableMB float64
			_ = db.QueryRowContext(ctx, `SELECT pg_total_relation_size($1) / 1048576.0`, v.table).Scan(&tableMB)
			fmt.Printf("bulk COPY without vector index: %d rows in %.1f s = %.0f rows/s (table %.0f MB)\n",
				o.rows, secs, float64(o.rows)/secs, tableMB)
		}
	}

	fmt.Printf("computing exact neighbours in Go...\n")
	exactAll := make([][]int64, len(queries))
	exactAgent := make([][]int64, len(queries))
	for qi, q := range queries {
		if !o.quick {
			exactAll[qi] = exactTop(data, q.vec, 10, -1)
		}
		exactAgent[qi] = exactTop(data, q.vec, 10, q.agent)
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.name
	}
	fmt.Fprintln(tw, "measure\t"+strings.Join(names, "\t"))
	var builds, sizes []string
	for _, v := range vs {
		fmt.Printf("building the %s index...\n", v.name)
		if _, err := conn.ExecContext(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
			return err
		}
		start := time.Now()
		if _, err := conn.ExecContext(ctx, v.create); err != nil {
			return err
		}
		builds = append(builds, fmt.Sprintf("%.1f s", time.Since(start).Seconds()))
		if _, err := conn.ExecContext(ctx, `RESET maintenance_work_mem`); err != nil {
			return err
		}
		var mb float64
		_ = conn.QueryRowContext(ctx, `SELECT pg_relation_size($1) / 1048576.0`, v.table+"_hnsw").Scan(&mb)
		sizes = append(sizes, fmt.Sprintf("%.0f MB", mb))
	}
	fmt.Fprintf(tw, "HNSW build time (maintenance_work_mem 1GB)\t%s\n", strings.Join(builds, "\t"))
	fmt.Fprintf(tw, "index size\t%s\n", strings.Join(sizes, "\t"))

	// Warm both indexes so the first measured queries do not pay for cold reads.
	for _, q := range queries[:min(20, len(queries))] {
		for _, v := range vs {
			if _, err := searchAll(ctx, conn, v, q.vec, 100); err != nil {
				return err
			}
		}
	}

	type stats struct {
		lat    []time.Duration
		recall float64
		rows   []int
		plan   string
	}
	measure := func(label string, search func(v variant, q row, qi int, withPlan bool) ([]int64, string, error), exact [][]int64, showRows bool) ([]stats, error) {
		st := make([]stats, len(vs))
		for qi, q := range queries {
			for vi, v := range vs {
				start := time.Now()
				ids, plan, err := search(v, q, qi, qi == 0)
				if err != nil {
					return nil, err
				}
				st[vi].lat = append(st[vi].lat, time.Since(start))
				st[vi].recall += overlap(ids, exact[qi])
				st[vi].rows = append(st[vi].rows, len(ids))
				if qi == 0 {
					st[vi].plan = plan
				}
			}
		}
		cells := make([]string, len(vs))
		for vi, s := range st {
			p50, p95 := pct(s.lat)
			cells[vi] = fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, recall@10 %.3f", ms(p50), ms(p95), s.recall/float64(len(queries)))
			if showRows {
				sum := 0
				for _, r := range s.rows {
					sum += r
				}
				cells[vi] += fmt.Sprintf(", rows avg %.1f min %d", float64(sum)/float64(len(s.rows)), slices.Min(s.rows))
			}
			cells[vi] += " [" + s.plan + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, strings.Join(cells, "\t"))
		return st, nil
	}
	for _, ef := range []int{40, 100} {
		if o.quick {
			break
		}
		_, err := measure(fmt.Sprintf("top-10, all rows, ef_search=%d", ef), func(v variant, q row, _ int, withPlan bool) ([]int64, string, error) {
			plan := ""
			if withPlan {
				var err error
				if plan, err = explain(ctx, conn, `SELECT id FROM `+v.table+` ORDER BY `+v.order+` LIMIT 10`, vecText(q.vec)); err != nil {
					return nil, "", err
				}
			}
			ids, err := searchAll(ctx, conn, v, q.vec, ef)
			return ids, plan, err
		}, exactAll, false)
		if err != nil {
			return err
		}
	}
	modes := []string{"off", "relaxed_order"}
	if o.quick {
		modes = modes[1:]
	}
	var filtered []stats
	for _, mode := range modes {
		st, err := measure("top-10, agent filter, ef_search=100, iterative_scan="+mode, func(v variant, q row, _ int, withPlan bool) ([]int64, string, error) {
			return searchAgent(ctx, conn, v, q.vec, q.agent, mode, withPlan)
		}, exactAgent, true)
		if err != nil {
			return err
		}
		filtered = st
	}
	// The exact scan the index replaces: the same query without index scans (the agent's
	// rows through a bitmap scan, every distance computed and sorted).
	exact, err := measure("top-10, agent filter, exact scan (no index scan)", func(v variant, q row, _ int, withPlan bool) ([]int64, string, error) {
		return searchAgent(ctx, conn, v, q.vec, q.agent, "exact", withPlan)
	}, exactAgent, true)
	if err != nil {
		return err
	}
	if o.json != "" {
		f, x := filtered[0], exact[0]
		p50, p95 := pct(f.lat)
		xp50, xp95 := pct(x.lat)
		b, _ := json.Marshal(map[string]float64{
			"rows": float64(o.rows), "agents": float64(o.agents), "queries": float64(len(queries)),
			"p50_ms": ms(p50), "p95_ms": ms(p95), "recall": f.recall / float64(len(queries)),
			"min_rows": float64(slices.Min(f.rows)), "exact_p50_ms": ms(xp50), "exact_p95_ms": ms(xp95),
		})
		if err := os.WriteFile(o.json, b, 0o600); err != nil {
			return err
		}
	}

	// Inserts: alternate batches between the two indexed tables and a table without a
	// vector index.
	tables := []string{"bench_vector", "bench_halfvec", "bench_plain"}
	elapsed := make([]time.Duration, len(tables))
	for off := 0; off < len(extra); off += o.batch {
		batch := extra[off:min(off+o.batch, len(extra))]
		for ti, t := range tables {
			start := time.Now()
			if err := copyRows(ctx, db, t, batch, 10_000_000+off, len(batch)); err != nil {
				return err
			}
			elapsed[ti] += time.Since(start)
		}
	}
	if o.insert > 0 {
		rate := func(i int) string { return fmt.Sprintf("%.0f rows/s", float64(len(extra))/elapsed[i].Seconds()) }
		fmt.Fprintf(tw, "insert into the indexed table (COPY, %d rows per tx)\t%s\t%s\n", o.batch, rate(0), rate(1))
		fmt.Fprintf(tw, "insert into a table without vector index (same batches)\t%s\t\n", rate(2))
	}
	return tw.Flush()
}

// searchAll is the unfiltered top 10.
func searchAll(ctx context.Context, conn *sql.Conn, v variant, q []float32, ef int) ([]int64, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, `SET LOCAL hnsw.ef_search = `+strconv.Itoa(ef)); err != nil {
		return nil, err
	}
	return ids(tx.QueryContext(ctx, `SELECT id FROM `+v.table+` ORDER BY `+v.order+` LIMIT 10`, vecText(q)))
}

// searchAgent is the top 10 of one agent, the query shape of the Retriever.
func searchAgent(ctx context.Context, conn *sql.Conn, v variant, q []float32, agent int, mode string, withPlan bool) ([]int64, string, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback() //nolint:errcheck
	set := `SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.iterative_scan = ` + mode
	if mode == "exact" {
		set = `SET LOCAL enable_indexscan = off`
	}
	if _, err := tx.ExecContext(ctx, set); err != nil {
		return nil, "", err
	}
	query := `WITH r AS MATERIALIZED (
    SELECT id, ` + v.order + ` AS d FROM ` + v.table + ` WHERE agent_id = $2 ORDER BY d LIMIT 10
) SELECT id FROM r ORDER BY d`
	plan := ""
	if withPlan {
		if plan, err = explainTx(ctx, tx, query, vecText(q), agent); err != nil {
			return nil, "", err
		}
	}
	res, err := ids(tx.QueryContext(ctx, query, vecText(q), agent))
	return res, plan, err
}

// explain returns the scan nodes of a query's plan.
func explain(ctx context.Context, conn *sql.Conn, query string, args ...any) (string, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback() //nolint:errcheck
	return explainTx(ctx, tx, query, args...)
}

func explainTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (string, error) {
	rows, err := tx.QueryContext(ctx, `EXPLAIN (COSTS OFF) `+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		if strings.Contains(l, "Scan") && !strings.Contains(l, "CTE Scan") {
			lines = append(lines, strings.TrimSpace(strings.TrimLeft(l, " ->")))
		}
	}
	return strings.Join(lines, "; "), rows.Err()
}

func ids(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// copyBatch COPYs rows into table in tx, numbering them from firstID. The final argument-less
// Exec ends the COPY and reports its error (lib/pq), so the deferred Close has nothing left
// to report.
func copyBatch(ctx context.Context, tx *sql.Tx, table string, rows []row, firstID int) error {
	stmt, err := tx.PrepareContext(ctx, `COPY `+table+` (id, agent_id, content, embedding) FROM STDIN`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, r := range rows {
		if _, err := stmt.ExecContext(ctx, firstID+i, r.agent, r.text, vecText(r.vec)); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// copyRows COPYs rows into table in transactions of batch rows each.
func copyRows(ctx context.Context, db *sql.DB, table string, rows []row, firstID, batch int) error {
	for off := 0; off < len(rows); off += batch {
		end := min(off+batch, len(rows))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := copyBatch(ctx, tx, table, rows[off:end], firstID+off); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// generator draws clustered unit vectors and matching filler texts.
type generator struct {
	rng     *rand.Rand
	centres [][]float32
	words   []string
}

func newGenerator(rng *rand.Rand, topics int) *generator {
	g := &generator{rng: rng}
	for range topics {
		g.centres = append(g.centres, unit(gauss(rng, 1)))
	}
	for i := range 5000 {
		g.words = append(g.words, "w"+strconv.Itoa(i))
	}
	return g
}

// row draws a vector at cosine ≈ 0.7 from a random topic centre.
func (g *generator) row(agent int) row {
	c := g.centres[g.rng.IntN(len(g.centres))]
	noise := gauss(g.rng, 1/math.Sqrt(dims))
	v := make([]float32, dims)
	for i := range v {
		v[i] = c[i] + noise[i]
	}
	var b strings.Builder
	for i := range 100 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.words[g.rng.IntN(len(g.words))])
	}
	return row{agent: agent, vec: unit(v), text: b.String()}
}

func gauss(rng *rand.Rand, sigma float64) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * sigma)
	}
	return v
}

func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

// exactTop returns the ids of the k rows nearest to q by cosine distance (rows are unit
// vectors, so by dot product), restricted to one agent when agent ≥ 0.
func exactTop(data []row, q []float32, k, agent int) []int64 {
	type hit struct {
		id  int64
		dot float64
	}
	var top []hit
	for i, r := range data {
		if agent >= 0 && r.agent != agent {
			continue
		}
		var dot float64
		for j, x := range r.vec {
			dot += float64(x) * float64(q[j])
		}
		if len(top) < k || dot > top[len(top)-1].dot {
			top = append(top, hit{int64(i), dot})
			sort.Slice(top, func(a, b int) bool { return top[a].dot > top[b].dot })
			if len(top) > k {
				top = top[:k]
			}
		}
	}
	out := make([]int64, len(top))
	for i, h := range top {
		out[i] = h.id
	}
	return out
}

func overlap(got, want []int64) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, g := range got {
		if slices.Contains(want, g) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func pct(d []time.Duration) (p50, p95 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*95/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func vecText(v []float32) string {
	b := make([]byte, 0, len(v)*10)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}
