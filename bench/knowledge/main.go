// Command knowledge measures the knowledge-chunk vector index alternatives on this machine
// and prints one table, so the choice in docs/decisions.md ("Knowledge index") can be
// checked and re-run:
//
//   - bulk COPY into the table without an index (rows/s);
//   - for the full-precision HNSW index (vector_cosine_ops) and for the halfvec expression
//     index ((embedding::halfvec(1536)) halfvec_cosine_ops), both m=16 ef_construction=64
//     built with maintenance_work_mem = 1GB: build time and size, top-10 search p50/p95 and
//     recall@10 against exact search (unfiltered, ef_search 40 and 100), the same under an
//     agent filter with and without hnsw.iterative_scan (rows returned, recall, latency),
//     and the rate of inserts into the indexed table (COPY batches of -batch rows, one
//     transaction each, the way ingestion writes a document's chunks).
//
// The data imitates a knowledge base: -rows chunks in one workspace spread over -agents
// agents, with ~100-word texts and 1536-d unit vectors drawn around -topics topic centres
// (real embeddings are clustered, which is what makes HNSW recall meaningful). Exact
// neighbours are computed in Go. The run creates and drops its own database.
//
//	go run ./bench/knowledge                       # 100k rows, 20 agents (~20 min on 2 cores)
//	go run ./bench/knowledge -rows 20000 -insert 300
package main

import (
	"context"
	"database/sql"
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

	"github.com/lib/pq"
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
	only    string
}

func main() {
	var o options
	flag.StringVar(&o.base, "db", env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable"), "any database URL on the server; the run uses its own database next to it")
	flag.IntVar(&o.rows, "rows", 100_000, "chunks in the table")
	flag.IntVar(&o.agents, "agents", 20, "agents the chunks belong to")
	flag.IntVar(&o.topics, "topics", 400, "topic centres the vectors are drawn around")
	flag.IntVar(&o.queries, "queries", 200, "queries per measurement")
	flag.IntVar(&o.insert, "insert", 600, "rows inserted into each indexed table to measure the insert rate")
	flag.IntVar(&o.batch, "batch", 50, "rows per insert transaction (one document's chunks)")
	flag.BoolVar(&o.keep, "keep", false, "keep the benchmark database")
	flag.StringVar(&o.only, "only", "", "run only this index variant (vector or halfvec)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "knowledge:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
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

// variant is one index under test.
type variant struct {
	name   string
	create string // CREATE INDEX statement
	order  string // ORDER BY expression with $1 the query vector
}

var variants = []variant{
	{
		name:   "vector",
		create: `CREATE INDEX bench_hnsw ON bench_chunks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
		order:  `embedding <=> $1::vector`,
	},
	{
		name:   "halfvec",
		create: `CREATE INDEX bench_hnsw ON bench_chunks USING hnsw ((embedding::halfvec(1536)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)`,
		order:  `embedding::halfvec(1536) <=> $1::halfvec(1536)`,
	},
}

type row struct {
	agent int
	vec   []float32
	text  string
}

func run(ctx context.Context, o options) error {
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

	if _, err := db.ExecContext(ctx, `
CREATE TABLE bench_chunks (
    id        bigint PRIMARY KEY,
    agent_id  integer NOT NULL,
    content   text NOT NULL,
    tsv       tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    embedding vector(1536) NOT NULL,
    metadata  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX bench_chunks_agent_idx ON bench_chunks (agent_id);`); err != nil {
		return err
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

	// Bulk load without any vector index.
	start := time.Now()
	if err := copyRows(ctx, db, data, 0, 5000); err != nil {
		return err
	}
	loadSecs := time.Since(start).Seconds()
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE bench_chunks`); err != nil {
		return err
	}
	var tableMB float64
	_ = db.QueryRowContext(ctx, `SELECT pg_total_relation_size('bench_chunks') / 1048576.0`).Scan(&tableMB)
	fmt.Printf("bulk COPY without vector index: %d rows in %.1f s = %.0f rows/s (table %.0f MB)\n",
		o.rows, loadSecs, float64(o.rows)/loadSecs, tableMB)

	// Insert rate without a vector index (baseline for the indexed runs).
	extra := make([]row, o.insert)
	for i := range extra {
		extra[i] = gen.row(rng.IntN(o.agents))
	}
	base, err := insertRate(ctx, db, extra, o.rows, o.batch)
	if err != nil {
		return err
	}
	fmt.Printf("insert into the table without vector index: %.0f rows/s (batches of %d)\n\n", base, o.batch)

	// Exact neighbours.
	fmt.Printf("computing exact neighbours in Go...\n")
	exactAll := make([][]int64, len(queries))
	exactAgent := make([][]int64, len(queries))
	for qi, q := range queries {
		exactAll[qi] = exactTop(data, q.vec, 10, -1)
		exactAgent[qi] = exactTop(data, q.vec, 10, q.agent)
	}

	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "index\tmeasure\tvalue")
	for _, v := range variants {
		if o.only != "" && o.only != v.name {
			continue
		}
		if err := measure(ctx, db, tw, v, o, queries, exactAll, exactAgent, extra); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		tw.Flush()
	}
	return tw.Flush()
}

func measure(ctx context.Context, db *sql.DB, tw *tabwriter.Writer, v variant, o options, queries []row, exactAll, exactAgent [][]int64, extra []row) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		return err
	}
	fmt.Printf("building %s index...\n", v.name)
	start := time.Now()
	if _, err := conn.ExecContext(ctx, v.create); err != nil {
		return err
	}
	build := time.Since(start)
	if _, err := conn.ExecContext(ctx, `RESET maintenance_work_mem`); err != nil {
		return err
	}
	var sizeMB float64
	_ = conn.QueryRowContext(ctx, `SELECT pg_relation_size('bench_hnsw') / 1048576.0`).Scan(&sizeMB)
	fmt.Fprintf(tw, "%s\tbuild time\t%.1f s\n", v.name, build.Seconds())
	fmt.Fprintf(tw, "%s\tindex size\t%.0f MB\n", v.name, sizeMB)

	// Warm the index once so the first measured queries do not pay for cold reads.
	for _, q := range queries[:min(20, len(queries))] {
		if _, err := searchAll(ctx, conn, v, q.vec, 100); err != nil {
			return err
		}
	}
	for _, ef := range []int{40, 100} {
		var lat []time.Duration
		var recall float64
		for qi, q := range queries {
			t := time.Now()
			ids, err := searchAll(ctx, conn, v, q.vec, ef)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(t))
			recall += overlap(ids, exactAll[qi])
		}
		p50, p95 := pct(lat)
		fmt.Fprintf(tw, "%s\ttop-10, all rows, ef_search=%d\tp50 %.1f ms, p95 %.1f ms, recall@10 %.3f\n",
			v.name, ef, ms(p50), ms(p95), recall/float64(len(queries)))
	}

	for _, mode := range []string{"off", "relaxed_order"} {
		var lat []time.Duration
		var recall float64
		minRows, sumRows := math.MaxInt, 0
		plan := ""
		for qi, q := range queries {
			t := time.Now()
			ids, p, err := searchAgent(ctx, conn, v, q.vec, q.agent, mode, qi == 0)
			if err != nil {
				return err
			}
			if qi == 0 {
				plan = p
			}
			lat = append(lat, time.Since(t))
			recall += overlap(ids, exactAgent[qi])
			minRows = min(minRows, len(ids))
			sumRows += len(ids)
		}
		p50, p95 := pct(lat)
		fmt.Fprintf(tw, "%s\ttop-10, agent filter, ef_search=100, iterative_scan=%s\trows returned avg %.1f (min %d), p50 %.1f ms, p95 %.1f ms, recall@10 %.3f, plan: %s\n",
			v.name, mode, float64(sumRows)/float64(len(queries)), minRows, ms(p50), ms(p95), recall/float64(len(queries)), plan)
	}

	rate, err := insertRate(ctx, db, extra, 10_000_000, o.batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "%s\tinsert into the indexed table (COPY, %d rows per tx)\t%.0f rows/s\n", v.name, o.batch, rate)

	_, err = conn.ExecContext(ctx, `DROP INDEX bench_hnsw`)
	return err
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
	return ids(tx.QueryContext(ctx, `SELECT id FROM bench_chunks ORDER BY `+v.order+` LIMIT 10`, vecText(q)))
}

// searchAgent is the top 10 of one agent, the query shape of the Retriever.
func searchAgent(ctx context.Context, conn *sql.Conn, v variant, q []float32, agent int, mode string, explain bool) ([]int64, string, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, `SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.iterative_scan = `+mode); err != nil {
		return nil, "", err
	}
	query := `WITH r AS MATERIALIZED (
    SELECT id, ` + v.order + ` AS d FROM bench_chunks WHERE agent_id = $2 ORDER BY d LIMIT 10
) SELECT id FROM r ORDER BY d`
	plan := ""
	if explain {
		rows, err := tx.QueryContext(ctx, `EXPLAIN (COSTS OFF) `+query, vecText(q), agent)
		if err != nil {
			return nil, "", err
		}
		var lines []string
		for rows.Next() {
			var l string
			_ = rows.Scan(&l)
			if strings.Contains(l, "Scan") {
				lines = append(lines, strings.TrimSpace(strings.TrimLeft(l, " ->")))
			}
		}
		rows.Close()
		plan = strings.Join(lines, "; ")
	}
	res, err := ids(tx.QueryContext(ctx, query, vecText(q), agent))
	return res, plan, err
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

// insertRate COPYs rows in transactions of batch rows each and deletes them afterwards
// (then vacuums, so the next measurement starts from the same table).
func insertRate(ctx context.Context, db *sql.DB, rows []row, firstID, batch int) (float64, error) {
	start := time.Now()
	if err := copyRows(ctx, db, rows, firstID, batch); err != nil {
		return 0, err
	}
	rate := float64(len(rows)) / time.Since(start).Seconds()
	if _, err := db.ExecContext(ctx, `DELETE FROM bench_chunks WHERE id >= $1`, firstID); err != nil {
		return 0, err
	}
	_, err := db.ExecContext(ctx, `VACUUM bench_chunks`)
	return rate, err
}

func copyRows(ctx context.Context, db *sql.DB, rows []row, firstID, batch int) error {
	for off := 0; off < len(rows); off += batch {
		end := min(off+batch, len(rows))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, pq.CopyIn("bench_chunks", "id", "agent_id", "content", "embedding"))
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		for i := off; i < end; i++ {
			if _, err := stmt.ExecContext(ctx, firstID+i, rows[i].agent, rows[i].text, vecText(rows[i].vec)); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := stmt.Close(); err != nil {
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
		b = strconv.AppendFloat(b, float64(x), 'f', -1, 32)
	}
	return string(append(b, ']'))
}
