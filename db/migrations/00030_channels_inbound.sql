-- +goose Up
-- The durable inbox of channel webhooks: a verified inbound message is written here and its
-- channels.process_inbound job enqueued in the same transaction, before the webhook answers.
-- The unique key makes a platform's redelivery a no-op. thread and subject are how a reply
-- is addressed (Slack thread_ts, e-mail Message-ID and subject): the sender reads the
-- newest row of the customer. processed_at is set once the pipeline has answered it.
CREATE TABLE channel_inbound (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel_id   uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    external_id  text NOT NULL,
    sender       text NOT NULL,
    sender_name  text NOT NULL DEFAULT '',
    content      text NOT NULL,
    thread       text NOT NULL DEFAULT '',
    subject      text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX channel_inbound_sender_idx ON channel_inbound (channel_id, sender, received_at DESC);
CREATE INDEX channel_inbound_received_idx ON channel_inbound (received_at);

-- Voice calls (the Twilio TwiML loop): when each started and how many of its started
-- minutes were charged (5 credits each, charged as the call goes on); silent_turns counts
-- turns in a row without speech (the call ends after a few).
CREATE TABLE voice_calls (
    channel_id      uuid NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    call_sid        text NOT NULL,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    caller          text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    minutes_charged integer NOT NULL DEFAULT 0,
    silent_turns    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, call_sid)
);
CREATE INDEX voice_calls_started_idx ON voice_calls (started_at);

-- +goose Down
DROP TABLE voice_calls;
DROP TABLE channel_inbound;
