-- +goose Up
-- Worker liveness (platform/queue/heartbeat.go): every working River client writes its
-- heartbeat here under its client id; queue.rescue takes back the running jobs of a client
-- whose heartbeat stopped (a SIGKILLed worker) without waiting for their attempt timeout.
CREATE TABLE queue_workers (
    client_id    text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE queue_workers;
