-- +goose Up
-- Uploaded files other than PDF (DOCX, TXT, MD, HTML, CSV) are stored as type FILE; the
-- format comes from the storage key's extension (docs/decisions.md, "Knowledge files").
ALTER TABLE knowledge_docs DROP CONSTRAINT knowledge_docs_type_check;
ALTER TABLE knowledge_docs ADD CONSTRAINT knowledge_docs_type_check
    CHECK (type IN ('TEXT','URL','PDF','QA','SITEMAP','YOUTUBE','FILE'));
-- One document per upload: deleting a document deletes its file, which must not pull the
-- file from under another document.
CREATE UNIQUE INDEX knowledge_docs_storage_key_idx ON knowledge_docs (storage_key) WHERE storage_key IS NOT NULL;

-- +goose Down
DROP INDEX knowledge_docs_storage_key_idx;
DELETE FROM knowledge_docs WHERE type = 'FILE';
ALTER TABLE knowledge_docs DROP CONSTRAINT knowledge_docs_type_check;
ALTER TABLE knowledge_docs ADD CONSTRAINT knowledge_docs_type_check
    CHECK (type IN ('TEXT','URL','PDF','QA','SITEMAP','YOUTUBE'));
