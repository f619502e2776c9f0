package ingestion

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

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

// docColumns lists every column but raw_content, which only the ingestion job reads.
const docColumns = `id, workspace_id, agent_id, type, title, status, source_url, storage_key,
    chunk_count, is_active, error_msg, content_sha256, created_at, updated_at`

const (
	sqlInsertDoc = `
INSERT INTO knowledge_docs (id, workspace_id, agent_id, type, title, status, source_url, storage_key, raw_content)
VALUES (:id, :workspace_id, :agent_id, :type, :title, 'PENDING', :source_url, :storage_key, :raw_content)
RETURNING ` + docColumns

	sqlGetDoc = `
SELECT ` + docColumns + ` FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3`

	// sqlListDocs pages newest first by (created_at, id); $3/$4 are the cursor (NULL for
	// the first page).
	sqlListDocs = `
SELECT ` + docColumns + ` FROM knowledge_docs
WHERE workspace_id = $1 AND agent_id = $2
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $5`

	sqlUpdateDoc = `
UPDATE knowledge_docs
SET title = COALESCE($4, title), is_active = COALESCE($5, is_active), updated_at = now()
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING ` + docColumns

	sqlDeleteDoc = `
DELETE FROM knowledge_docs WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING COALESCE(storage_key, '')`

	sqlDeleteAgentDocs = `
DELETE FROM knowledge_docs WHERE workspace_id = $1 AND agent_id = $2
RETURNING COALESCE(storage_key, '')`

	sqlMarkPending = `
UPDATE knowledge_docs SET status = 'PENDING', error_msg = NULL, updated_at = now()
WHERE workspace_id = $1 AND agent_id = $2 AND id = $3
RETURNING ` + docColumns

	// Job-side statements address the doc by id alone: the job's argument came from a
	// tenant-checked request.
	sqlJobGetDoc = `
SELECT ` + docColumns + `, raw_content FROM knowledge_docs WHERE id = $1`

	sqlJobLockDoc = `SELECT ` + docColumns + ` FROM knowledge_docs WHERE id = $1 FOR UPDATE`

	sqlJobSetStatus = `
UPDATE knowledge_docs SET status = $2, error_msg = $3, updated_at = now() WHERE id = $1`

	sqlJobReady = `
UPDATE knowledge_docs
SET status = 'READY', chunk_count = $2, content_sha256 = $3, error_msg = NULLIF($4, ''), updated_at = now()
WHERE id = $1`

	sqlJobError = `
UPDATE knowledge_docs SET status = 'ERROR', error_msg = $2, updated_at = now() WHERE id = $1`

	sqlCountChunks = `SELECT count(*) FROM knowledge_chunks WHERE doc_id = $1`

	sqlDeleteChunks = `DELETE FROM knowledge_chunks WHERE doc_id = $1`

	sqlHeartbeat = `
UPDATE knowledge_docs SET updated_at = now() WHERE id = $1 AND status = 'PROCESSING'`

	// sqlLostDocs finds PROCESSING documents whose heartbeat stopped ($1 interval).
	sqlLostDocs = `
SELECT id FROM knowledge_docs
WHERE status = 'PROCESSING' AND updated_at < now() - $1::interval
ORDER BY updated_at
LIMIT 100`

	// sqlLockLostDoc re-checks one lost document under a row lock (SKIP LOCKED: a live
	// worker's final write, or another sweeper, holds it) and counts the recovery jobs
	// queued for it in the last hour.
	sqlLockLostDoc = `
WITH d AS (
    SELECT id FROM knowledge_docs
    WHERE id = $1 AND status = 'PROCESSING' AND updated_at < now() - $2::interval
    FOR UPDATE SKIP LOCKED
)
SELECT (SELECT count(*) FROM river_job j
        WHERE j.kind = 'ingestion.ingest_doc' AND j.args->>'docId' = d.id::text
          AND (j.args->>'recovery')::boolean AND j.created_at > now() - interval '1 hour')
FROM d`

	// sqlStuckDocs finds documents left PENDING or PROCESSING for 30 minutes without a
	// live ingestion job, e.g. when River's rescuer discarded a job whose worker was
	// killed during its last attempt.
	sqlStuckDocs = `
SELECT d.id FROM knowledge_docs d
WHERE d.status IN ('PENDING', 'PROCESSING') AND d.updated_at < now() - $1::interval
  AND NOT EXISTS (
      SELECT 1 FROM river_job j
      WHERE j.kind = 'ingestion.ingest_doc' AND j.args->>'docId' = d.id::text
        AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
LIMIT 100`
)

// sqlCopyChunks bulk-loads chunks (lib/pq's COPY FROM STDIN; tsv is generated).
const sqlCopyChunks = `COPY knowledge_chunks (id, doc_id, workspace_id, agent_id, chunk_idx, content, embedding, metadata) FROM STDIN`

func insertDoc(ctx context.Context, q sqlx.ExtContext, d docRow) (docRow, error) {
	query, args, err := sqlx.Named(sqlInsertDoc, d)
	if err != nil {
		return docRow{}, err
	}
	var out docRow
	err = sqlx.GetContext(ctx, q, &out, q.Rebind(query), args...)
	return out, err
}

func getDoc(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID, id string) (docRow, error) {
	var d docRow
	err := sqlx.GetContext(ctx, q, &d, sqlGetDoc, workspaceID, agentID, id)
	return d, err
}

// listCursor is the sort key of the last item of a page: created_at and id.
type listCursor struct {
	CreatedAt time.Time
	ID        string
}

func (c listCursor) String() string {
	return c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID
}

func parseListCursor(s string) (listCursor, bool) {
	ts, id, ok := strings.Cut(s, "|")
	if !ok {
		return listCursor{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || len(id) != 36 {
		return listCursor{}, false
	}
	return listCursor{CreatedAt: t, ID: id}, true
}

func listDocs(ctx context.Context, q sqlx.QueryerContext, workspaceID, agentID string, after *listCursor, limit int) ([]docRow, error) {
	var ts, id any
	if after != nil {
		ts, id = after.CreatedAt, after.ID
	}
	var out []docRow
	err := sqlx.SelectContext(ctx, q, &out, sqlListDocs, workspaceID, agentID, ts, id, limit)
	return out, err
}

// copyChunks bulk-loads chunks with COPY on the transaction.
func copyChunks(ctx context.Context, tx *sqlx.Tx, doc docRow, chunks []chunk, vecs [][]float32, newID func() string) error {
	stmt, err := tx.PrepareContext(ctx, sqlCopyChunks)
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
