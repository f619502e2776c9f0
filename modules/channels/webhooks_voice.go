package channels

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/billing/credit"
	"github.com/axonhq/axon/modules/channels/inbound"
	"github.com/axonhq/axon/platform/apperr"
)

// The voice channel: Twilio's TwiML speech loop (SPEC §5). POST …/voice starts a call: the
// greeting, then <Gather input="speech"> posting to …/voice/turn. Each turn runs the
// pipeline inline (Twilio waits at most 15 s for the TwiML), says the answer and gathers
// again; a handoff, a human's conversation or no credits end the call. Every started minute
// of a call costs credit.CostVoiceMinute, charged as the call goes on.

// voiceTurnTimeout is the pipeline's share of Twilio's 15 s wait.
const voiceTurnTimeout = 12 * time.Second

// maxSilentTurns ends a call after this many turns in a row without speech (the <Gather>
// redirects on silence, and every started minute costs credits).
const maxSilentTurns = 3

// Voice texts.
const (
	textVoiceNotCaught = "Sorry, I didn't catch that."
	textVoiceHuman     = "A member of our team will follow up with you. Goodbye."
	textVoiceSilent    = "I can't hear you, so I'll end the call. Please call again anytime. Goodbye."
)

// VoiceAnswer is what the call says next; End hangs up after it.
type VoiceAnswer struct {
	Say string
	End bool
}

// StartCall records a call on the voice channel, charges its first minute and returns the
// greeting.
func (s *Service) StartCall(ctx context.Context, ch WebhookChannel, callSID, from string) (VoiceAnswer, error) {
	agent, err := s.agents.Get(ctx, ch.WorkspaceID, ch.AgentID)
	if err != nil {
		return VoiceAnswer{}, err
	}
	ok, err := s.chargeCall(ctx, ch, callSID, from)
	if err != nil || !ok {
		return VoiceAnswer{Say: TextNoCredits, End: true}, err
	}
	return VoiceAnswer{Say: fmt.Sprintf("Hello, you are speaking with %s. How can I help you today?", agent.Name)}, nil
}

// VoiceTurn answers one spoken turn through the pipeline.
func (s *Service) VoiceTurn(ctx context.Context, ch WebhookChannel, turn inbound.VoiceTurn) (VoiceAnswer, error) {
	ok, err := s.chargeCall(ctx, ch, turn.CallSID, turn.From)
	if err != nil || !ok {
		return VoiceAnswer{Say: TextNoCredits, End: true}, err
	}
	silent := strings.TrimSpace(turn.Speech) == ""
	n, err := s.st.silentTurn(ctx, s.db, ch.ID, turn.CallSID, silent)
	switch {
	case err != nil:
		return VoiceAnswer{}, err
	case silent && n >= maxSilentTurns:
		return VoiceAnswer{Say: textVoiceSilent, End: true}, nil
	case silent:
		return VoiceAnswer{Say: textVoiceNotCaught}, nil
	}
	tctx, cancel := context.WithTimeout(ctx, voiceTurnTimeout)
	defer cancel()
	rep, err := s.Respond(tctx, Inbound{
		WorkspaceID: ch.WorkspaceID, AgentID: ch.AgentID, ChannelType: "VOICE", CustomerID: turn.From, Content: turn.Speech,
	}, nil)
	var ae *apperr.Error
	switch {
	case err != nil && ctx.Err() == nil && tctx.Err() != nil:
		// The pipeline ran out of Twilio's patience: say the fallback and keep listening.
		return VoiceAnswer{Say: TextProviderError}, nil
	case errors.As(err, &ae) && ae.Code == apperr.Validation:
		return VoiceAnswer{Say: textVoiceNotCaught}, nil
	case err != nil:
		return VoiceAnswer{}, err
	case rep.Message == nil:
		return VoiceAnswer{Say: textVoiceHuman, End: true}, nil
	}
	return VoiceAnswer{Say: rep.Message.Content, End: rep.Handoff != nil}, nil
}

// chargeCall charges the call's started minutes that were not charged yet, and reports
// false when the workspace has too few credits for them.
func (s *Service) chargeCall(ctx context.Context, ch WebhookChannel, callSID, from string) (bool, error) {
	call, err := s.st.startCall(ctx, s.db, ch.ID, callSID, ch.WorkspaceID, from)
	if err != nil {
		return false, err
	}
	started := int(max(s.now().Sub(call.StartedAt), 0)/time.Minute) + 1
	if started <= call.MinutesCharged {
		return true, nil
	}
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		prev, err := s.st.chargeMinutes(ctx, tx, ch.ID, callSID, started)
		if err != nil || started <= prev {
			return err
		}
		_, err = s.credits.Deduct(ctx, tx, credit.Deduction{
			WorkspaceID: ch.WorkspaceID, Amount: (started - prev) * credit.CostVoiceMinute, Reason: credit.ReasonVoiceConsumed,
			RefID: callSID, IdempotencyKey: fmt.Sprintf("voice:%s:%s:%d", ch.ID, callSID, started),
		})
		return err
	})
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code == apperr.InsufficientCredits {
		return false, nil
	}
	return err == nil, err
}

// voiceWebhook starts a call: the greeting and the first <Gather>.
func (h *handlers) voiceWebhook(c echo.Context) error {
	return h.voice(c, func(ch WebhookChannel, form map[string][]string) (VoiceAnswer, error) {
		turn, err := inbound.ParseVoice(form)
		if err != nil {
			return VoiceAnswer{}, inboundErr(err)
		}
		return h.svc.StartCall(c.Request().Context(), ch, turn.CallSID, turn.From)
	})
}

// voiceTurnWebhook answers one spoken turn.
func (h *handlers) voiceTurnWebhook(c echo.Context) error {
	return h.voice(c, func(ch WebhookChannel, form map[string][]string) (VoiceAnswer, error) {
		turn, err := inbound.ParseVoice(form)
		if err != nil {
			return VoiceAnswer{}, inboundErr(err)
		}
		return h.svc.VoiceTurn(c.Request().Context(), ch, turn)
	})
}

// voice verifies a Twilio voice webhook, runs step and answers its TwiML: the text, then
// either <Hangup/> or a <Gather> posting the next turn to …/voice/turn.
func (h *handlers) voice(c echo.Context, step func(WebhookChannel, map[string][]string) (VoiceAnswer, error)) error {
	body, ch, err := h.webhook(c, "VOICE")
	if err != nil {
		return err
	}
	form, err := h.twilioForm(c, body, ch)
	if err != nil {
		return err
	}
	ans, err := step(ch, form)
	if err != nil {
		return err
	}
	if ans.End {
		return twiml(c, inbound.TwiMLHangup(ans.Say))
	}
	return twiml(c, inbound.TwiMLGather(ans.Say, turnURL(h.svc.publicURL(c.Request()))))
}

// turnURL is the …/voice/turn URL of a voice webhook URL (without its query).
func turnURL(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return strings.TrimSuffix(u, "/turn") + "/turn"
}
