-- +goose NO TRANSACTION
-- HNSW index for knowledge retrieval: full-precision vectors, cosine distance, m=16,
-- ef_construction=64 (SPEC §4). Measured against a halfvec expression index in
-- docs/decisions.md ("Knowledge index"). CONCURRENTLY keeps knowledge_chunks writable
-- while the index builds, so the statement cannot run inside a transaction; goose runs
-- the statements of a NO TRANSACTION migration one after the other on a single
-- connection, so the SET below applies to the build and RESET gives the pooled
-- connection its default back.

-- +goose Up
SET maintenance_work_mem = '1GB';
-- A build that failed half-way leaves an INVALID index of this name behind; drop it so
-- that re-running the migration rebuilds it.
DROP INDEX CONCURRENTLY IF EXISTS knowledge_chunks_embedding_idx;
CREATE INDEX CONCURRENTLY knowledge_chunks_embedding_idx ON knowledge_chunks
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
RESET maintenance_work_mem;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS knowledge_chunks_embedding_idx;
