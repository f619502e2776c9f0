-- +goose NO TRANSACTION
-- Retrieval is vector-only: fusing full-text search did not raise recall@5 on the test set
-- (docs/decisions.md, "Hybrid retrieval"), and the GIN index on tsv cost as much per chunk
-- written as the HNSW index (BenchmarkIngestThroughput). The tsv column stays, so the
-- index can come back with CREATE INDEX CONCURRENTLY if hybrid retrieval ever pays.

-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS knowledge_chunks_tsv_idx;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv);
