-- +goose Up
CREATE TABLE knowledge_docs (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id       uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    type           text NOT NULL CHECK (type IN ('TEXT','URL','PDF','QA','SITEMAP','YOUTUBE')),
    title          text NOT NULL,
    status         text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','PROCESSING','READY','ERROR')),
    source_url     text,
    storage_key    text,
    raw_content    text,
    chunk_count    integer NOT NULL DEFAULT 0,
    is_active      boolean NOT NULL DEFAULT true,
    error_msg      text,
    content_sha256 text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_docs_agent_idx ON knowledge_docs (workspace_id, agent_id, created_at DESC);

CREATE TABLE knowledge_chunks (
    id           uuid PRIMARY KEY,
    doc_id       uuid NOT NULL REFERENCES knowledge_docs(id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id     uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    chunk_idx    integer NOT NULL,
    content      text NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    embedding    vector(1536) NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (doc_id, chunk_idx)
);
CREATE INDEX knowledge_chunks_agent_idx ON knowledge_chunks (agent_id);
CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv);

-- +goose Down
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_docs;
