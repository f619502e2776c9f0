package agents

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/axonhq/axon/platform/ai"
)

// ResponderDeps are what the responder needs.
type ResponderDeps struct {
	Chatter   ai.Chatter
	Knowledge Knowledge
	// MinSimilarity is the retrieval threshold (RAG_MIN_SIMILARITY or the embedder's
	// default); it must be positive.
	MinSimilarity float64
	Log           *slog.Logger
	// Now is the clock of the business-hours note (default time.Now).
	Now func() time.Time
}

// Canned replies of the gate.
const (
	// InactiveReply answers customers of an agent that is not ACTIVE.
	InactiveReply = "This assistant is not available right now. Please try again later."
	// DefaultClosedReply answers outside business hours when the agent has no closedMessage.
	DefaultClosedReply = "We're closed right now. Please come back during our business hours."
	// DontKnowReply replaces a reply the evidence does not support (see supported).
	DontKnowReply = "I'm sorry, I don't know the answer to that."
)

// Answer and helper call settings.
const (
	answerTemperature  = 0.3
	answerMaxTokens    = 1024
	summaryTemperature = 0.1
	summaryMaxTokens   = 300
	tagMaxTokens       = 100
	maxPickedTags      = 3
)

type responder struct {
	chat      ai.Chatter
	knowledge Knowledge
	minSim    float64
	log       *slog.Logger
	now       func() time.Time
}

// NewResponder builds the Responder channels answers through.
func NewResponder(d ResponderDeps) (Responder, error) {
	if d.Chatter == nil || d.Knowledge == nil {
		return nil, errors.New("agents: responder: Chatter and Knowledge are required")
	}
	if d.MinSimilarity <= 0 || d.MinSimilarity > 1 {
		return nil, errors.New("agents: responder: MinSimilarity must be in (0, 1]")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &responder{chat: d.Chatter, knowledge: d.Knowledge, minSim: d.MinSimilarity, log: d.Log, now: d.Now}, nil
}

// Gate implements Responder.
func (r *responder) Gate(a Agent, now time.Time) Gate {
	if a.Status != "ACTIVE" {
		return Gate{Kind: GateInactive, Text: InactiveReply}
	}
	if !a.BusinessHours.OpenAt(now) {
		g := Gate{Kind: GateClosed, Text: strings.TrimSpace(a.BusinessHours.ClosedMessage)}
		if g.Text == "" {
			g.Text = DefaultClosedReply
		}
		if a.HandoffEnabled {
			g.HandoffTrigger = TriggerBusinessHours
		}
		return g
	}
	return Gate{Kind: GateOpen}
}

// Answer implements Responder. An explicit request for a human, when the agent has
// handoff enabled, is decided before anything else: no retrieval and no completion, so
// the Answer carries only the handoff (empty Content, Scored false, no Sources).
func (r *responder) Answer(ctx context.Context, req AnswerRequest, onDelta func(delta string) error) (Answer, error) {
	a := req.Agent
	if a.HandoffEnabled && ExplicitRequest(req.Message) {
		return Answer{Handoff: &HandoffDecision{Trigger: TriggerExplicitRequest}}, nil
	}
	passages, err := r.knowledge.Search(ctx, a.WorkspaceID, a.ID, req.Message, knowledgeK, r.minSim)
	if err != nil {
		return Answer{}, err
	}
	creq := ai.ChatRequest{
		Messages:    answerPrompt(a, passages, req.History, req.Message, r.now()),
		Temperature: answerTemperature,
		MaxTokens:   answerMaxTokens,
	}
	var resp ai.ChatResponse
	if onDelta != nil {
		resp, err = r.chat.Stream(ctx, creq, onDelta)
	} else {
		resp, err = r.chat.Complete(ctx, creq)
	}
	if err != nil {
		return Answer{}, err
	}
	scores, err := r.score(ctx, passages, req.Message, resp.Content)
	if err != nil {
		return Answer{}, err
	}
	content, handoff := resp.Content, decideHandoff(a, false, scores)
	if !supported(passages, scores) {
		// The evidence says the knowledge does not hold the answer: admit it (or hand off)
		// rather than send a reply the knowledge does not support.
		content = DontKnowReply
		if a.HandoffEnabled && handoff == nil {
			handoff = &HandoffDecision{Trigger: TriggerLowConfidence}
		}
	}
	return Answer{
		Content:          content,
		Scores:           scores,
		Scored:           true,
		Handoff:          handoff,
		Sources:          sources(passages),
		PromptTokens:     resp.PromptTokens,
		CompletionTokens: resp.CompletionTokens,
	}, nil
}

// sources lists the passages given to the model, in their numbered order.
func sources(passages []Passage) []Source {
	out := make([]Source, len(passages))
	for i, p := range passages {
		out[i] = Source{DocID: p.DocID, Title: p.Title, ChunkIdx: p.ChunkIdx, URL: p.URL}
	}
	return out
}

// Summarize implements Responder. Without any turn there is nothing to summarize and no
// AI call.
func (r *responder) Summarize(ctx context.Context, _ Agent, history []Turn) (string, error) {
	msgs := summaryPrompt(history)
	if len(msgs) == 1 {
		return "", nil
	}
	var out struct {
		Summary json.RawMessage `json:"summary"`
	}
	err := r.chat.CompleteJSON(ctx, ai.ChatRequest{Messages: msgs, Temperature: summaryTemperature, MaxTokens: summaryMaxTokens}, &out)
	if err != nil {
		return "", err
	}
	// A model may answer the bullets as a list rather than one string: both are accepted.
	var text string
	if err := json.Unmarshal(out.Summary, &text); err != nil {
		var bullets []string
		if err := json.Unmarshal(out.Summary, &bullets); err != nil {
			return "", &ai.Error{Kind: ai.ErrBadResponse, Status: 200, Err: errors.New("summary is neither a string nor a list of strings")}
		}
		for i, b := range bullets {
			bullets[i] = "- " + strings.TrimLeft(strings.TrimSpace(b), "-•* ")
		}
		text = strings.Join(bullets, "\n")
	}
	return strings.TrimSpace(text), nil
}

// Tag implements Responder. The model's choice is kept only where it names one of the
// agent's tags (compared case-insensitively, returned in the agent's spelling), without
// duplicates, at most 3.
func (r *responder) Tag(ctx context.Context, a Agent, history []Turn) ([]string, error) {
	if len(a.AvailableTags) == 0 {
		return nil, nil
	}
	msgs := tagPrompt(a.AvailableTags, history)
	if len(msgs) == 1 {
		return nil, nil
	}
	var out struct {
		Tags []string `json:"tags"`
	}
	if err := r.chat.CompleteJSON(ctx, ai.ChatRequest{Messages: msgs, Temperature: 0, MaxTokens: tagMaxTokens}, &out); err != nil {
		return nil, err
	}
	var picked []string
	for _, t := range out.Tags {
		t = strings.TrimSpace(t)
		known := ""
		for _, av := range a.AvailableTags {
			if strings.EqualFold(av, t) {
				known = av
				break
			}
		}
		switch {
		case known == "":
			r.log.DebugContext(ctx, "responder: tag outside the agent's list dropped", "agent_id", a.ID, "tag", t)
		case !containsFold(picked, known) && len(picked) < maxPickedTags:
			picked = append(picked, known)
		}
	}
	return picked, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
