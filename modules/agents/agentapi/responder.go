package agentapi

import (
	"context"
	"time"
)

// Responder is the contract through which channels gets an agent's answer to one customer
// message (the AI pipeline's steps 3 and 5–8, and the handoff summary and auto-tags). It
// reads knowledge and calls the AI provider; it never writes to the database, never charges
// credits and never sends anything: the caller persists, charges and delivers in its own
// transaction.
type Responder interface {
	// Gate runs the checks that come before any AI call (step 3): an agent that is not
	// ACTIVE gets GateInactive with a canned reply; outside the agent's business hours (in
	// its own time zone, at now) GateClosed with the agent's closedMessage or a default,
	// and HandoffTrigger "BUSINESS_HOURS" when the agent has handoff enabled. Otherwise
	// GateOpen. It makes no network call.
	Gate(agent Agent, now time.Time) Gate

	// Answer retrieves the agent's knowledge for req.Message, assembles the prompt (system
	// prompt, routing policy, business-hours note, numbered knowledge quoted as data, the
	// last 8 turns of req.History within about 4,000 tokens, then the message), completes
	// it (temperature 0.3, max 1024 tokens), streaming each piece to onDelta when onDelta is
	// not nil, scores the reply (factual, intent, emotional; composite 0.45/0.35/0.20) and
	// decides the handoff when the agent has it enabled, in the order explicit request →
	// ANGER_DETECTED → LOW_CONFIDENCE. An explicit request (handoff enabled) is decided
	// first, without retrieval or completion: the Answer then has only Handoff set (empty
	// Content, Scored false, no Sources) and onDelta is never called. Errors are the
	// provider's (ai.Error, context errors; the scoring call's too) or onDelta's,
	// unchanged; the caller answers them with the fallback text.
	Answer(ctx context.Context, req AnswerRequest, onDelta func(delta string) error) (Answer, error)

	// Summarize writes the handoff summary (3–5 bullets, at most 300 tokens, temperature
	// 0.1) over the last 20 turns of history.
	Summarize(ctx context.Context, agent Agent, history []Turn) (string, error)

	// Tag picks at most 3 of agent.AvailableTags that fit the conversation; none when the
	// agent has no tags.
	Tag(ctx context.Context, agent Agent, history []Turn) ([]string, error)
}

// Turn is one message of a conversation as the responder sees it.
type Turn struct {
	Role    string // USER | ASSISTANT | SYSTEM | HUMAN_AGENT
	Content string
}

// AnswerRequest is one customer message to answer.
type AnswerRequest struct {
	Agent Agent
	// History is the conversation before Message, oldest first.
	History []Turn
	Message string
}

// Gate kinds.
const (
	GateOpen     = "OPEN"
	GateInactive = "INACTIVE"
	GateClosed   = "CLOSED"
)

// Gate is what Responder.Gate decided.
type Gate struct {
	Kind string // GateOpen | GateInactive | GateClosed
	// Text is the reply to send instead of an AI answer (empty for GateOpen).
	Text string
	// HandoffTrigger is "BUSINESS_HOURS" when a closed agent with handoff enabled should
	// hand the conversation off; "" otherwise.
	HandoffTrigger string
}

// Scores are the reply's confidence scores, each in [0, 1].
type Scores struct {
	Factual   float64
	Intent    float64
	Emotional float64
	Composite float64 // 0.45·Factual + 0.35·Intent + 0.20·Emotional
}

// Source is one knowledge chunk the answer was given.
type Source struct {
	DocID    string `json:"docId"`
	Title    string `json:"title"`
	ChunkIdx int    `json:"chunkIdx"`
	URL      string `json:"url,omitempty"`
}

// HandoffDecision says why the conversation should go to a human.
type HandoffDecision struct {
	Trigger string // EXPLICIT_REQUEST | ANGER_DETECTED | LOW_CONFIDENCE | POLICY_RULE
}

// Answer is the responder's reply to one message.
type Answer struct {
	Content string
	Scores  Scores
	// Scored is false when no scoring call was made (an explicit request for a human):
	// Scores are then zero and mean nothing, and the caller stores no confidence.
	Scored bool
	// Handoff is nil when the conversation stays with the AI.
	Handoff *HandoffDecision
	// Sources are the chunks given to the model, in the order they were numbered.
	Sources          []Source
	PromptTokens     int
	CompletionTokens int
}
