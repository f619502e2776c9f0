-- +goose Up
CREATE TABLE agents (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name              text NOT NULL,
    avatar            text,
    system_prompt     text NOT NULL,
    status            text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','INACTIVE','DRAFT')),
    mode              text NOT NULL DEFAULT 'TEXT' CHECK (mode IN ('TEXT','VOICE','BOTH')),
    handoff_enabled   boolean NOT NULL DEFAULT true,
    handoff_threshold double precision NOT NULL DEFAULT 0.65 CHECK (handoff_threshold BETWEEN 0 AND 1),
    handoff_dest      text NOT NULL DEFAULT 'NONE' CHECK (handoff_dest IN ('NONE','LIVE_AGENT','EMAIL_QUEUE','ZENDESK','FRESHDESK')),
    routing_policy    text,
    business_hours    jsonb,
    tagging_enabled   boolean NOT NULL DEFAULT false,
    available_tags    text[] NOT NULL DEFAULT '{}',
    allowed_origins   text[] NOT NULL DEFAULT '{}',
    deleted_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_workspace_idx ON agents (workspace_id, created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE widget_configs (
    agent_id          uuid PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
    primary_color     text NOT NULL DEFAULT '#4F46E5',
    theme             text NOT NULL DEFAULT 'light',
    greeting          text NOT NULL DEFAULT 'Hi! How can I help you today?',
    position          text NOT NULL DEFAULT 'bottom-right',
    corner_radius     integer NOT NULL DEFAULT 12,
    shadow            boolean NOT NULL DEFAULT true,
    header_title      text NOT NULL DEFAULT 'Support',
    input_placeholder text NOT NULL DEFAULT 'Type your message…',
    streaming         boolean NOT NULL DEFAULT true,
    template          text NOT NULL DEFAULT 'default',
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE widget_configs;
DROP TABLE agents;
