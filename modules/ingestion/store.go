package ingestion

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
)

// store owns the module's SQL and runs it on the sqlx.ExtContext the service passes (the
// pool or its transaction). Tenant statements filter on the workspace id from the token;
// job statements address a document by id alone (the job's argument came from a
// tenant-checked request). A missing document is errDocNotFound.
type store struct{}

// Document types (knowledge_docs.type). FILE is an uploaded DOCX, TXT, MD, HTML or CSV
// file; an uploaded PDF is PDF (migration 00015, docs/decisions.md).
const (
	TypeText    = "TEXT"
	TypeQA      = "QA"
	TypeURL     = "URL"
	TypeSitemap = "SITEMAP"
	TypePDF     = "PDF"
	TypeFile    = "FILE"
	TypeYouTube = "YOUTUBE"
)

// Document statuses (knowledge_docs.status).
const (
	StatusPending    = "PENDING"
	StatusProcessing = "PROCESSING"
	StatusReady      = "READY"
	StatusError      = "ERROR"
)

// docRow is one knowledge_docs row.
type docRow struct {
	ID            string         `db:"id"`
	WorkspaceID   string         `db:"workspace_id"`
	AgentID       string         `db:"agent_id"`
	Type          string         `db:"type"`
	Title         string         `db:"title"`
	Status        string         `db:"status"`
	SourceURL     sql.NullString `db:"source_url"`
	StorageKey    sql.NullString `db:"storage_key"`
	RawContent    sql.NullString `db:"raw_content"`
	ChunkCount    int            `db:"chunk_count"`
	IsActive      bool           `db:"is_active"`
	ErrorMsg      sql.NullString `db:"error_msg"`
	ContentSHA256 sql.NullString `db:"content_sha256"`
	CreatedAt     time.Time      `db:"created_at"`
	UpdatedAt     time.Time      `db:"updated_at"`
}

// key is the row's position in the list order.
func (d docRow) key() page.Key { return page.Key{Time: d.CreatedAt, ID: d.ID} }

// docColumns lists every column but raw_content, which only the ingestion job reads.
const docColumns = `id, workspace_id, agent_id, type, title, status, source_url, storage_key,
    chunk_count, is_active, error_msg, content_sha256, created_at, updated_at`

const (
	qInsertDoc = `
INSERT INTO knowledge_docs (id, workspace_id, agent_id, type, title, status, source_url, storage_key, raw_content)
VALUES (:id, :workspace_id, :agent_id, :type, :title, 'PENDING', :source_url, :storage_key, :raw_content)
RETURNING ` + docColumns

	qGetDoc = `
SELECT ` + docColumns + ` FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3`

	// qListDocs pages newest first by (created_at, id); $3/$4 are the page key (NULL for
	// the first page).
	qListDocs = `
SELECT ` + docColumns + ` FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = $2
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $5`

	qUpdateDoc = `
UPDATE knowledge_docs
SET title = COALESCE($4, title), is_active = COALESCE($5, is_active), updated_at = now()
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING ` + docColumns

	qDeleteDoc = `
DELETE FROM knowledge_docs WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING COALESCE(storage_key, '')`

	// Chunks go with their documents (ON DELETE CASCADE).
	qDeleteAgentDocs = `
DELETE FROM knowledge_docs WHERE workspace_id = $1 AND agent_id = $2
RETURNING COALESCE(storage_key, '')`

	qMarkPending = `
UPDATE knowledge_docs SET status = 'PENDING', error_msg = NULL, updated_at = now()
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING ` + docColumns

	// qCountDocs counts the documents of each of the agents ($2) in one query.
	qCountDocs = `
SELECT agent_id, count(*) AS n FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = ANY($2::uuid[])
GROUP BY agent_id`

	qCountByStatus = `
SELECT status, count(*) AS n, COALESCE(sum(chunk_count), 0) AS chunks FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = $2
GROUP BY status`

	qJobGetDoc = `
SELECT ` + docColumns + `, raw_content FROM knowledge_docs WHERE id = $1`

	// qJobStart marks the document PROCESSING (its errorMsg kept) and reads it with its raw
	// content: the job's first statement.
	qJobStart = `
UPDATE knowledge_docs SET status = 'PROCESSING', updated_at = now() WHERE id = $1
RETURNING ` + docColumns + `, raw_content`

	qJobLockDoc = `SELECT ` + docColumns + ` FROM knowledge_docs WHERE id = $1 FOR UPDATE`

	qJobSetStatus = `
UPDATE knowledge_docs SET status = $2, error_msg = $3, updated_at = now() WHERE id = $1`

	qJobReady = `
UPDATE knowledge_docs
SET status = 'READY', chunk_count = $2, content_sha256 = $3, error_msg = NULLIF($4, ''),
    ready_job_id = NULLIF($5, 0), updated_at = now()
WHERE id = $1
RETURNING ` + docColumns

	// qReadyByJob: the document is READY from this job's own earlier run.
	qReadyByJob = `
SELECT EXISTS (SELECT 1 FROM knowledge_docs WHERE id = $1 AND status = 'READY' AND ready_job_id = $2)`

	qJobError = `
UPDATE knowledge_docs SET status = 'ERROR', error_msg = $2, updated_at = now() WHERE id = $1`

	qCountChunks = `SELECT count(*) FROM knowledge_chunks WHERE doc_id = $1`

	qDeleteChunks = `DELETE FROM knowledge_chunks WHERE doc_id = $1`

	// qCopyChunks bulk-loads chunks (lib/pq's COPY FROM STDIN; tsv is generated).
	qCopyChunks = `COPY knowledge_chunks (id, doc_id, workspace_id, agent_id, chunk_idx, content, embedding, metadata) FROM STDIN`

	qHeartbeat = `
UPDATE knowledge_docs SET updated_at = now() WHERE id = $1 AND status = 'PROCESSING'`

	// qLostDocs finds PROCESSING documents whose heartbeat stopped ($1 interval).
	qLostDocs = `
SELECT id FROM knowledge_docs
WHERE status = 'PROCESSING' AND updated_at < now() - $1::interval
ORDER BY updated_at
LIMIT 100`

	// qLockLostDoc re-checks one lost document under a row lock (SKIP LOCKED: a live
	// worker's final write, or another sweeper, holds it) and counts the recovery jobs
	// queued for it in the last hour.
	qLockLostDoc = `
WITH d AS (
    SELECT id FROM knowledge_docs
    WHERE id = $1 AND status = 'PROCESSING' AND updated_at < now() - $2::interval
    FOR UPDATE SKIP LOCKED
)
SELECT (SELECT count(*) FROM river_job j
        WHERE j.kind = 'ingestion.ingest_doc' AND j.args->>'docId' = d.id::text
          AND (j.args->>'recovery')::boolean AND j.created_at > now() - interval '1 hour')
FROM d`

	// qStuckDocs finds documents left PENDING or PROCESSING for 30 minutes without a
	// live ingestion job, e.g. when River's rescuer discarded a job whose worker was
	// killed during its last attempt.
	qStuckDocs = `
SELECT d.id FROM knowledge_docs d
WHERE d.status IN ('PENDING', 'PROCESSING') AND d.updated_at < now() - $1::interval
  AND NOT EXISTS (
      SELECT 1 FROM river_job j
      WHERE j.kind = 'ingestion.ingest_doc' AND j.args->>'docId' = d.id::text
        AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
LIMIT 100`

	// qSearchSettings sets the HNSW candidate list (%d, at least k) and the iterative scan
	// for the transaction only (SET LOCAL), so pooled connections keep their defaults.
	qSearchSettings = `SET LOCAL hnsw.ef_search = %d; SET LOCAL hnsw.iterative_scan = relaxed_order`

	// qSearch is the agent-filtered nearest-neighbour query. The inner query can use the
	// HNSW index; with hnsw.iterative_scan the index scan goes on past ef_search candidates
	// until k rows pass the filters, and relaxed_order lets it return them slightly out of
	// order, which the outer ORDER BY repairs.
	qSearch = `
WITH hits AS MATERIALIZED (
    SELECT c.doc_id, c.chunk_idx, c.content, c.metadata, c.embedding <=> $3::vector AS distance
    FROM knowledge_chunks c
    JOIN knowledge_docs d ON d.id = c.doc_id
    WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active
    ORDER BY distance
    LIMIT $4
)
SELECT h.doc_id, d.title, h.chunk_idx, h.content, h.metadata, 1 - h.distance AS similarity
FROM hits h JOIN knowledge_docs d ON d.id = h.doc_id
ORDER BY h.distance, h.doc_id, h.chunk_idx`

	// qTermFreqs counts the agent's chunks (READY, active documents) and, for each term of
	// $3 in order, how many of them hold it (English stemming, as tsv). A term that is a
	// stop word to Postgres (an empty tsquery) counts as held by every chunk.
	qTermFreqs = `
WITH chunks AS (
    SELECT c.tsv
    FROM knowledge_chunks c
    JOIN knowledge_docs d ON d.id = c.doc_id
    WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active
)
SELECT (SELECT count(*) FROM chunks) AS n,
       coalesce(array_agg(
           CASE WHEN numnode(t.q) = 0 THEN (SELECT count(*) FROM chunks)
                ELSE (SELECT count(*) FROM chunks WHERE chunks.tsv @@ t.q) END
           ORDER BY t.i), '{}') AS df
FROM unnest($3::text[]) WITH ORDINALITY AS u(term, i)
CROSS JOIN LATERAL (SELECT plainto_tsquery('english', u.term) AS q, u.i) t`

	// qSearchText is the full-text leg of retrieval, ranked by BM25 (k1 = 1.2, b = 0.75)
	// over the agent's chunks: the candidates are the chunks whose tsv (English stemming)
	// matches ANY of the query's lexemes (plainto_tsquery ANDs them, which a question
	// rarely satisfies); each matching lexeme adds its inverse document frequency among
	// the agent's chunks times its saturated, length-normalised frequency in the chunk.
	// A word every chunk holds ("bike" in a bike shop) counts next to nothing, a rare one
	// decides; ts_rank_cd weighed all words alike. The query's lexemes' positions are cut
	// out of each candidate's tsv with setweight + ts_filter (no unnest of whole chunks).
	// Chunk length is the number of distinct lexemes, averaged over the candidates. Each
	// hit carries its cosine similarity to the query vector. A query without lexemes (only
	// stop words) matches nothing.
	qSearchText = `
WITH q AS (
    SELECT NULLIF(replace(plainto_tsquery('english', $3)::text, '&', '|'), '')::tsquery AS query,
           tsvector_to_array(to_tsvector('english', $3)) AS lexemes
), cand AS MATERIALIZED (
    SELECT c.id, length(c.tsv)::float8 AS dl, ts_filter(setweight(c.tsv, 'A', q.lexemes), '{a}') AS matched
    FROM knowledge_chunks c
    JOIN knowledge_docs d ON d.id = c.doc_id
    CROSS JOIN q
    WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active AND c.tsv @@ q.query
), total AS (
    SELECT count(*)::float8 AS n
    FROM knowledge_chunks c
    JOIN knowledge_docs d ON d.id = c.doc_id
    WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active
), terms AS (
    SELECT cand.id, cand.dl, u.lexeme, cardinality(u.positions)::float8 AS tf
    FROM cand CROSS JOIN LATERAL unnest(cand.matched) u
), df AS (
    SELECT lexeme, count(*)::float8 AS df FROM terms GROUP BY lexeme
), scored AS (
    SELECT t.id, sum(ln(1 + (total.n - df.df + 0.5) / (df.df + 0.5))
                     * t.tf * 2.2 / (t.tf + 1.2 * (0.25 + 0.75 * t.dl / avgdl.v))) AS score
    FROM terms t
    JOIN df USING (lexeme)
    CROSS JOIN total
    CROSS JOIN (SELECT avg(dl) AS v FROM cand) avgdl
    GROUP BY t.id
)
SELECT c.doc_id, d.title, c.chunk_idx, c.content, c.metadata, 1 - (c.embedding <=> $5::vector) AS similarity, s.score AS text_score
FROM scored s
JOIN knowledge_chunks c ON c.id = s.id
JOIN knowledge_docs d ON d.id = c.doc_id
ORDER BY s.score DESC, c.doc_id, c.chunk_idx
LIMIT $4`
)

// notFound maps sql.ErrNoRows to errDocNotFound.
func notFound(err error) error {
	if pg.IsNoRows(err) {
		return errDocNotFound
	}
	return err
}

// Tenant statements.

func (store) insertDoc(ctx context.Context, q sqlx.ExtContext, d docRow) (docRow, error) {
	query, args, err := sqlx.Named(qInsertDoc, d)
	if err != nil {
		return docRow{}, err
	}
	var out docRow
	err = sqlx.GetContext(ctx, q, &out, q.Rebind(query), args...)
	if pg.IsUniqueViolation(err) {
		return docRow{}, errUploadInUse
	}
	return out, err
}

func (store) getDoc(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qGetDoc, workspaceID, agentID, id)
	return d, notFound(err)
}

// listDocs returns up to req.Fetch() documents of the agent after req.After, newest first.
func (store) listDocs(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string, req page.Request) ([]docRow, error) {
	at, id := req.After.Args()
	var out []docRow
	err := sqlx.SelectContext(ctx, q, &out, qListDocs, workspaceID, agentID, at, id, req.Fetch())
	return out, err
}

// updateDoc sets the title and/or is_active (nil leaves a field as it is).
func (store) updateDoc(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID, id string, title *string, active *bool) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qUpdateDoc, workspaceID, agentID, id, title, active)
	return d, notFound(err)
}

// deleteDoc deletes the document (its chunks cascade) and returns its storage key, "" when
// it has no file.
func (store) deleteDoc(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID, id string) (string, error) {
	var key string
	err := sqlx.GetContext(ctx, q, &key, qDeleteDoc, workspaceID, agentID, id)
	return key, notFound(err)
}

// deleteAgentDocs deletes every document of the agent and returns the storage keys of
// those that had a file.
func (store) deleteAgentDocs(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string) ([]string, error) {
	var keys []string
	if err := sqlx.SelectContext(ctx, q, &keys, qDeleteAgentDocs, workspaceID, agentID); err != nil {
		return nil, err
	}
	files := keys[:0]
	for _, k := range keys {
		if k != "" {
			files = append(files, k)
		}
	}
	return files, nil
}

func (store) markPending(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qMarkPending, workspaceID, agentID, id)
	return d, notFound(err)
}

// countDocs returns the number of documents of each agent; agents without any are absent.
func (store) countDocs(ctx context.Context, q sqlx.QueryerContext, workspaceID string, agentIDs []string) (map[string]int, error) {
	var rows []struct {
		AgentID string `db:"agent_id"`
		N       int    `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qCountDocs, workspaceID, pq.StringArray(agentIDs)); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.AgentID] = r.N
	}
	return out, nil
}

// countByStatus returns the agent's documents per status and the sum of their chunks.
func (store) countByStatus(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string) (map[string]int, int, error) {
	var rows []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
		Chunks int    `db:"chunks"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, qCountByStatus, workspaceID, agentID); err != nil {
		return nil, 0, err
	}
	byStatus, chunks := make(map[string]int, len(rows)), 0
	for _, r := range rows {
		byStatus[r.Status] = r.N
		chunks += r.Chunks
	}
	return byStatus, chunks, nil
}

// Job statements.

// jobDoc reads the document with its raw content.
func (store) jobDoc(ctx context.Context, q sqlx.QueryerContext, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qJobGetDoc, id)
	return d, notFound(err)
}

// startJob marks the document PROCESSING and returns it with its raw content.
func (store) startJob(ctx context.Context, q sqlx.QueryerContext, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qJobStart, id)
	return d, notFound(err)
}

// lockDoc reads the document under a row lock (q must be a transaction).
func (store) lockDoc(ctx context.Context, q sqlx.QueryerContext, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qJobLockDoc, id)
	return d, notFound(err)
}

func (store) setStatus(ctx context.Context, q sqlx.ExecerContext, id, status string, msg sql.NullString) error {
	_, err := q.ExecContext(ctx, qJobSetStatus, id, status, msg)
	return err
}

// markReady marks the document READY and returns it (the UPDATE also locks its row until
// q's transaction ends); errDocNotFound when it was deleted.
func (store) markReady(ctx context.Context, q sqlx.QueryerContext, id string, chunks int, sha, note string, jobID int64) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, qJobReady, id, chunks, sha, note, jobID)
	return d, notFound(err)
}

// readyByJob reports whether the document is READY from job jobID's own earlier run.
func (store) readyByJob(ctx context.Context, q sqlx.QueryerContext, id string, jobID int64) (bool, error) {
	var b bool
	err := sqlx.GetContext(ctx, q, &b, qReadyByJob, id, jobID)
	return b, err
}

func (store) markError(ctx context.Context, q sqlx.ExecerContext, id, msg string) error {
	_, err := q.ExecContext(ctx, qJobError, id, msg)
	return err
}

func (store) countChunks(ctx context.Context, q sqlx.QueryerContext, docID string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, qCountChunks, docID)
	return n, err
}

// heartbeat renews a PROCESSING document's updated_at.
func (store) heartbeat(ctx context.Context, q sqlx.ExecerContext, id string) error {
	_, err := q.ExecContext(ctx, qHeartbeat, id)
	return err
}

// lostDocs returns PROCESSING documents whose heartbeat stopped more than after ago.
func (store) lostDocs(ctx context.Context, q sqlx.QueryerContext, after time.Duration) ([]string, error) {
	var ids []string
	err := sqlx.SelectContext(ctx, q, &ids, qLostDocs, interval(after))
	return ids, err
}

// lockLostDoc locks a still-lost document (q must be a transaction) and returns how many
// recovery jobs were queued for it in the last hour; errDocNotFound when it is no longer
// lost or another transaction holds it.
func (store) lockLostDoc(ctx context.Context, q sqlx.QueryerContext, id string, after time.Duration) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n, qLockLostDoc, id, interval(after))
	return n, notFound(err)
}

// stuckDocs returns documents PENDING or PROCESSING for more than after with no live job.
func (store) stuckDocs(ctx context.Context, q sqlx.QueryerContext, after time.Duration) ([]string, error) {
	var ids []string
	err := sqlx.SelectContext(ctx, q, &ids, qStuckDocs, interval(after))
	return ids, err
}

// interval renders d as a Postgres interval in milliseconds.
func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }

// replaceChunks deletes the document's chunks and bulk-loads the new ones with COPY, on tx.
func (st store) replaceChunks(ctx context.Context, tx *sqlx.Tx, doc docRow, chunks []chunk, vecs [][]float32, newID func() string) error {
	if _, err := tx.ExecContext(ctx, qDeleteChunks, doc.ID); err != nil {
		return err
	}
	return st.copyChunks(ctx, tx, doc, chunks, vecs, newID)
}

// copyChunks bulk-loads chunks with COPY on the transaction.
func (store) copyChunks(ctx context.Context, tx *sqlx.Tx, doc docRow, chunks []chunk, vecs [][]float32, newID func() string) error {
	stmt, err := tx.PrepareContext(ctx, qCopyChunks)
	if err != nil {
		return fmt.Errorf("prepare copy: %w", err)
	}
	defer stmt.Close()
	for i, c := range chunks {
		meta, err := c.metadataJSON()
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, newID(), doc.ID, doc.WorkspaceID, doc.AgentID, i, c.Text, vectorText(vecs[i]), meta); err != nil {
			return fmt.Errorf("copy chunk %d: %w", i, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy chunks: %w", err)
	}
	return stmt.Close()
}

// Retrieval.

// hitRow is one row of qSearch.
type hitRow struct {
	DocID      string  `db:"doc_id"`
	Title      string  `db:"title"`
	ChunkIdx   int     `db:"chunk_idx"`
	Content    string  `db:"content"`
	Metadata   []byte  `db:"metadata"`
	Similarity float64 `db:"similarity"`
	TextScore  float64 `db:"text_score"` // BM25, full-text leg only
}

// search runs the nearest-neighbour query on tx with ef_search (at least efSearch and k)
// and the iterative scan set for this transaction only.
func (store) search(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID string, vec []float32, k, efSearch int) ([]hitRow, error) {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(qSearchSettings, max(efSearch, k))); err != nil {
		return nil, err
	}
	var rows []hitRow
	err := sqlx.SelectContext(ctx, tx, &rows, qSearch, workspaceID, agentID, vectorText(vec), k)
	return rows, err
}

// searchText runs the full-text leg (qSearchText) on tx.
func (store) searchText(ctx context.Context, tx *sqlx.Tx, workspaceID, agentID, query string, vec []float32, k int) ([]hitRow, error) {
	var rows []hitRow
	err := sqlx.SelectContext(ctx, tx, &rows, qSearchText, workspaceID, agentID, query, k, vectorText(vec))
	return rows, err
}

// termFreqs runs qTermFreqs: the number of the agent's chunks and, for each term, how
// many of them hold it.
func (store) termFreqs(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string, terms []string) (int, []int64, error) {
	var row struct {
		N  int           `db:"n"`
		DF pq.Int64Array `db:"df"`
	}
	err := sqlx.GetContext(ctx, q, &row, qTermFreqs, workspaceID, agentID, pq.StringArray(terms))
	return row.N, row.DF, err
}

// vectorText renders a vector in pgvector's text format, "[x,y,...]".
func vectorText(v []float32) string {
	b := make([]byte, 0, len(v)*11+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

// qVocabStamp identifies the state of an agent's knowledge for the vocabulary cache: its
// READY, active documents' count and latest change.
const qVocabStamp = `
SELECT count(*)::text || '/' || coalesce(max(d.updated_at)::text, '')
FROM knowledge_docs d
WHERE d.workspace_id = $1 AND d.agent_id = $2 AND d.status = 'READY' AND d.is_active`

// qVocabulary lists the words of an agent's chunks (READY, active documents), lower-cased
// and unstemmed ('simple' configuration), each with the number of chunks holding it.
const qVocabulary = `
SELECT w.word, count(*) AS n
FROM knowledge_chunks c
JOIN knowledge_docs d ON d.id = c.doc_id
CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', c.content))) AS w(word)
WHERE c.workspace_id = $1 AND c.agent_id = $2 AND d.status = 'READY' AND d.is_active
GROUP BY w.word`

// vocabStamp runs qVocabStamp.
func (store) vocabStamp(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string) (string, error) {
	var stamp string
	err := sqlx.GetContext(ctx, q, &stamp, qVocabStamp, workspaceID, agentID)
	return stamp, err
}

// vocabulary runs qVocabulary.
func (store) vocabulary(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string) (map[string]int, error) {
	rows, err := q.QueryxContext(ctx, qVocabulary, workspaceID, agentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	words := map[string]int{}
	for rows.Next() {
		var w string
		var n int
		if err := rows.Scan(&w, &n); err != nil {
			return nil, err
		}
		words[w] = n
	}
	return words, rows.Err()
}
