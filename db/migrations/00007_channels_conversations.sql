-- +goose Up
CREATE TABLE channels (
    id                 uuid PRIMARY KEY,
    workspace_id       uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    type               text NOT NULL CHECK (type IN ('WEB','WHATSAPP','TELEGRAM','MESSENGER','SLACK','SMS','EMAIL','VOICE')),
    is_active          boolean NOT NULL DEFAULT false,
    credentials_enc    bytea,
    key_version        integer,
    webhook_secret_enc bytea,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, type)
);

CREATE TABLE agent_channels (
    agent_id   uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    channel_id uuid NOT NULL UNIQUE REFERENCES channels(id) ON DELETE CASCADE,
    is_active  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, channel_id)
);

CREATE TABLE integrations (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('ZENDESK','FRESHDESK')),
    credentials_enc bytea NOT NULL,
    key_version     integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, kind)
);

-- Conversations outlive their agent (deleting an agent keeps them), hence no cascade.
CREATE TABLE conversations (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL REFERENCES agents(id),
    channel_type    text NOT NULL CHECK (channel_type IN ('WEB','WHATSAPP','TELEGRAM','MESSENGER','SLACK','SMS','EMAIL','VOICE')),
    external_id     text,
    customer_id     text,
    customer_name   text,
    status          text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','HANDED_OFF','RESOLVED','ABANDONED')),
    sentiment       double precision,
    intent_score    double precision,
    tags            text[] NOT NULL DEFAULT '{}',
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    resolved_at     timestamptz,
    last_message_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_activity_idx ON conversations (workspace_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_customer_idx ON conversations (workspace_id, agent_id, channel_type, customer_id, status);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('USER','ASSISTANT','SYSTEM','HUMAN_AGENT')),
    content         text NOT NULL,
    confidence      double precision,
    latency_ms      integer,
    tokens          integer,
    channel_msg_id  text,
    delivery_status text CHECK (delivery_status IN ('PENDING','SENT','FAILED')),
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, channel_msg_id)
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at, id);
CREATE INDEX messages_workspace_created_idx ON messages (workspace_id, created_at);

CREATE TABLE handoffs (
    id                 uuid PRIMARY KEY,
    conversation_id    uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    workspace_id       uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    trigger            text NOT NULL CHECK (trigger IN ('LOW_CONFIDENCE','ANGER_DETECTED','EXPLICIT_REQUEST','POLICY_RULE','BUSINESS_HOURS')),
    confidence         double precision,
    summary            text,
    destination        text NOT NULL CHECK (destination IN ('NONE','LIVE_AGENT','EMAIL_QUEUE','ZENDESK','FRESHDESK')),
    external_ticket_id text,
    resolved_at        timestamptz,
    learning_note      text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX handoffs_conversation_idx ON handoffs (conversation_id, created_at);
CREATE INDEX handoffs_workspace_idx ON handoffs (workspace_id, created_at DESC);

-- +goose Down
DROP TABLE handoffs;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE integrations;
DROP TABLE agent_channels;
DROP TABLE channels;
