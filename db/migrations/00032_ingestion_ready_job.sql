-- +goose Up
-- The River job whose attempt made the document READY. A worker killed after that commit
-- but before River recorded the job completed leaves the job running; when it is rescued
-- and runs again it finds its own id here and does nothing (no second knowledge_ready).
ALTER TABLE knowledge_docs ADD COLUMN ready_job_id bigint;

-- +goose Down
ALTER TABLE knowledge_docs DROP COLUMN ready_job_id;
