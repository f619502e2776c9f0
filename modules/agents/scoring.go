package agents

import (
	"context"
	"math"
	"regexp"

	"github.com/axonhq/axon/platform/ai"
)

// Handoff triggers.
const (
	TriggerExplicitRequest = "EXPLICIT_REQUEST"
	TriggerAngerDetected   = "ANGER_DETECTED"
	TriggerLowConfidence   = "LOW_CONFIDENCE"
	TriggerPolicyRule      = "POLICY_RULE"
	TriggerBusinessHours   = "BUSINESS_HOURS"
)

// Score weights and the anger threshold.
const (
	weightFactual   = 0.45
	weightIntent    = 0.35
	weightEmotional = 0.20
	// angerBelow: an emotional score under it hands the conversation off.
	angerBelow = 0.25
)

// explicitRequest holds the patterns of a customer asking for a human, matched
// case-insensitively anywhere in the message (docs/decisions.md, "Responder").
var explicitRequest = []*regexp.Regexp{
	regexp.MustCompile(`(?i)speak.*to.*(?:a |an )?(human|person|agent|representative|rep)`),
	regexp.MustCompile(`(?i)talk.*to.*(?:a |an )?(human|person|agent|representative|rep)`),
	regexp.MustCompile(`(?i)(?:real|actual|live)\s+(person|human|agent)`),
	regexp.MustCompile(`(?i)connect.*(?:human|agent)`),
	regexp.MustCompile(`(?i)escalate`),
	regexp.MustCompile(`(?i)transfer.*(?:me|call)`),
}

// ExplicitRequest reports whether the customer's message asks for a human.
func ExplicitRequest(message string) bool {
	for _, re := range explicitRequest {
		if re.MatchString(message) {
			return true
		}
	}
	return false
}

// scoreSet is the scorer's JSON answer.
type scoreSet struct {
	Factual   float64 `json:"factual"`
	Intent    float64 `json:"intent"`
	Emotional float64 `json:"emotional"`
}

// score asks the scorer model (CompleteJSON with the provider's default model, which is
// the scorer model) to rate the reply, and computes the composite. Scores outside [0, 1]
// are clamped; errors are the provider's, unchanged.
func (r *responder) score(ctx context.Context, passages []Passage, message, reply string) (Scores, error) {
	var s scoreSet
	err := r.chat.CompleteJSON(ctx, ai.ChatRequest{
		Messages:    scorerPrompt(passages, message, reply),
		Temperature: 0,
		MaxTokens:   100,
	}, &s)
	if err != nil {
		return Scores{}, err
	}
	return newScores(s.Factual, s.Intent, s.Emotional), nil
}

// newScores clamps the three scores to [0, 1] and adds the composite.
func newScores(factual, intent, emotional float64) Scores {
	sc := Scores{Factual: clamp01(factual), Intent: clamp01(intent), Emotional: clamp01(emotional)}
	sc.Composite = weightFactual*sc.Factual + weightIntent*sc.Intent + weightEmotional*sc.Emotional
	return sc
}

func clamp01(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return min(1, max(0, f))
}

// decideHandoff applies the handoff order to a scored reply: explicit request, then anger,
// then low confidence; nil when the agent has handoff disabled or nothing triggers.
func decideHandoff(a Agent, explicit bool, s Scores) *HandoffDecision {
	switch {
	case !a.HandoffEnabled:
		return nil
	case explicit:
		return &HandoffDecision{Trigger: TriggerExplicitRequest}
	case s.Emotional < angerBelow:
		return &HandoffDecision{Trigger: TriggerAngerDetected}
	case s.Composite < a.HandoffThreshold:
		return &HandoffDecision{Trigger: TriggerLowConfidence}
	}
	return nil
}

// Evidence thresholds of supported (docs/decisions.md, "Knowing when not to answer").
const (
	// minFactual: a reply the scorer rates less factual than this is not sent, whatever
	// the retrieval found.
	minFactual = 0.36
	// unagreedFactual: when no passage is ranked near the top by both retrieval legs, the
	// scorer must rate the reply at least this factual.
	unagreedFactual = 0.7
	// agreeRank: a passage both legs rank within this many places is agreed evidence.
	agreeRank = 3
)

// supported decides from the evidence whether a reply may be sent: the knowledge passages
// with their retrieval ranks, and the scorer's factual score. With no passage there is
// nothing to contradict and the model was told to say it does not know; otherwise the
// reply needs a factual score of at least minFactual, and of at least unagreedFactual
// when no passage was ranked in the first agreeRank places by both the vector and the
// full-text leg (similar words in a different context, or a topic the knowledge never
// mentions, rarely put the same chunk first in both). Passages without ranks (a
// Knowledge with one leg) are judged by the factual score alone. No single similarity
// threshold decides: the offline embedder's similarities of unanswerable questions
// overlap those of answerable ones (docs/performance.md).
func supported(passages []Passage, s Scores) bool {
	if len(passages) == 0 {
		return true
	}
	if s.Factual < minFactual {
		return false
	}
	ranked, agreed := false, false
	for _, p := range passages {
		ranked = ranked || p.VectorRank > 0 || p.TextRank > 0
		agreed = agreed || (p.VectorRank > 0 && p.VectorRank <= agreeRank && p.TextRank > 0 && p.TextRank <= agreeRank)
	}
	return !ranked || agreed || s.Factual >= unagreedFactual
}
