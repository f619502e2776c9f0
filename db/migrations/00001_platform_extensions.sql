-- +goose Up
-- pgvector stores the knowledge embeddings; every later migration may rely on it.
CREATE EXTENSION IF NOT EXISTS vector;

-- +goose Down
DROP EXTENSION IF EXISTS vector;
