package channels

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/realtime"
)

// Handoff destinations (agents.handoff_dest).
const (
	DestNone       = "NONE"
	DestLiveAgent  = "LIVE_AGENT"
	DestEmailQueue = "EMAIL_QUEUE"
	DestZendesk    = "ZENDESK"
	DestFreshdesk  = "FRESHDESK"
)

// Handoff triggers.
const (
	TriggerLowConfidence   = "LOW_CONFIDENCE"
	TriggerAngerDetected   = "ANGER_DETECTED"
	TriggerExplicitRequest = "EXPLICIT_REQUEST"
	TriggerPolicyRule      = "POLICY_RULE"
	TriggerBusinessHours   = "BUSINESS_HOURS"
)

// routedVia values beyond the destinations themselves.
const routedEmailFallback = "EMAIL_FALLBACK"

// HandoffText is the customer-facing SYSTEM text of a handoff.
func HandoffText(trigger, dest string) string {
	d := "a human agent"
	switch dest {
	case DestZendesk, DestFreshdesk:
		d = "our support team"
	case DestEmailQueue:
		d = "a team member via email"
	case DestLiveAgent:
		d = "a live agent"
	}
	switch trigger {
	case TriggerExplicitRequest:
		return "Of course! I'm connecting you with " + d + " now. They'll be with you shortly."
	case TriggerLowConfidence:
		return "This seems like something " + d + " can better help you with. I've sent them a summary of our conversation."
	case TriggerAngerDetected:
		return "I'm sorry for the frustration. I'm connecting you with " + d + " right away."
	case TriggerBusinessHours:
		return "I'm currently outside of business hours. I've created a ticket and " + d + " will follow up with you."
	}
	return "I'm passing you over to " + d + " who can help you further."
}

// handOff is the pipeline's handoff (step 8): unless a human took over meanwhile, the
// handoff row, HANDED_OFF, the SYSTEM text, the events and the channels.handoff job are
// written in one transaction. draft (the AI answer that was not sent) is kept in the SYSTEM
// message's metadata for review. Nothing is charged.
func (s *Service) handOff(ctx context.Context, rep Reply, c convRow, user msgRow, agent agentapi.Agent,
	trigger string, confidence *float64, draft string,
) (Reply, error) {
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, ok, err := s.stillOurs(ctx, tx, c, user)
		if err != nil || !ok {
			return err
		}
		h, m, err := s.handoffTx(ctx, tx, cur, trigger, confidence, destOf(agent), draft)
		if err != nil {
			return err
		}
		out := m.out()
		rep.Message = &out
		rep.Handoff = &HandoffRef{ID: h.ID, Trigger: h.Trigger, Destination: h.Destination}
		return nil
	})
	return rep, err
}

func destOf(a agentapi.Agent) string {
	if slices.Contains(validDests, a.HandoffDest) {
		return a.HandoffDest
	}
	return DestNone
}

// handoffTx writes a handoff in tx: the row, status HANDED_OFF (with
// conversation_status_changed), the SYSTEM text (delivered like any reply),
// handoff_triggered and the channels.handoff job that summarises and routes it.
func (s *Service) handoffTx(ctx context.Context, tx *sqlx.Tx, c convRow, trigger string, confidence *float64, dest, draft string) (handoffRow, msgRow, error) {
	h, err := s.st.insertHandoff(ctx, tx, c.WorkspaceID, c.ID, trigger, confidence, dest)
	if err != nil {
		return h, msgRow{}, fmt.Errorf("channels: handoff row: %w", err)
	}
	if c.Status != StatusHandedOff {
		if c, err = s.st.setStatus(ctx, tx, c.WorkspaceID, c.ID, StatusHandedOff); err != nil {
			return h, msgRow{}, err
		}
		if err := s.publishStatus(ctx, tx, c); err != nil {
			return h, msgRow{}, err
		}
	}
	meta := map[string]any{"handoffId": h.ID}
	if draft != "" {
		meta["draft"] = draft
	}
	m, err := s.storeOutbound(ctx, tx, c, RoleSystem, HandoffText(trigger, dest), nil, nil, nil, meta)
	if err != nil {
		return h, m, err
	}
	if err := s.publishHandoff(ctx, tx, c, h, nil); err != nil {
		return h, m, err
	}
	if _, err := s.queue.InsertTx(ctx, tx.Tx, HandoffArgs{WorkspaceID: c.WorkspaceID, HandoffID: h.ID}, nil); err != nil {
		return h, m, fmt.Errorf("channels: enqueue handoff: %w", err)
	}
	return h, m, nil
}

// publishHandoff publishes handoff_triggered: once when the handoff is decided (summary
// nil, as it is not written yet) and once more, with the same handoffId, when the
// channels.handoff job has written the summary. Clients keep the latest per handoffId.
func (s *Service) publishHandoff(ctx context.Context, tx *sqlx.Tx, c convRow, h handoffRow, summary *string) error {
	return s.pub.Publish(ctx, tx, realtime.Event{
		WorkspaceID: c.WorkspaceID, ConversationID: c.ID, Type: realtime.TypeHandoffTriggered,
		Payload: map[string]any{
			"conversationId": c.ID, "handoffId": h.ID, "trigger": h.Trigger, "destination": h.Destination,
			"summary": summary, "agentId": c.AgentID,
		},
	})
}

// ManualHandoff hands the conversation to a human on a staff member's request. trigger
// defaults to POLICY_RULE and destination to the agent's handoff destination (NONE when the
// agent was deleted).
func (s *Service) ManualHandoff(ctx context.Context, ws, convID, trigger, dest string) (Handoff, error) {
	pr := map[string]string{}
	if trigger != "" && !slices.Contains(validTriggers, trigger) {
		pr["trigger"] = "must be one of " + strings.Join(validTriggers, ", ")
	}
	if dest != "" && !slices.Contains(validDests, dest) {
		pr["destination"] = "must be one of " + strings.Join(validDests, ", ")
	}
	if len(pr) > 0 {
		return Handoff{}, apperr.ValidationFields(pr)
	}
	if trigger == "" {
		trigger = TriggerPolicyRule
	}
	var h handoffRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, err := s.st.getConversation(ctx, tx, ws, convID, true)
		if err != nil {
			return notFound(err, ErrConversationNotFound)
		}
		d := dest
		if d == "" {
			d = DestNone
			if a, err := s.agents.Get(ctx, ws, c.AgentID); err == nil {
				d = destOf(a)
			}
		}
		h, _, err = s.handoffTx(ctx, tx, c, trigger, nil, d, "")
		return err
	})
	return h.out(), err
}

// runHandoff is the channels.handoff job: it writes the summary (once) and routes the
// handoff to its destination (once: routed_at). A failing Zendesk or Freshdesk call falls
// back to e-mail at once rather than retrying, so that a human hears of the customer
// without delay and a ticket call that may have succeeded is never repeated.
func (s *Service) runHandoff(ctx context.Context, ws, id string) error {
	h, err := s.st.getHandoff(ctx, s.db, ws, id, false)
	if errors.Is(err, errNoRows) {
		return errPermanent{fmt.Errorf("channels: handoff %s not found", id)}
	}
	if err != nil || h.RoutedAt != nil {
		return err
	}
	c, err := s.st.getConversation(ctx, s.db, ws, h.ConversationID, false)
	if err != nil {
		return err
	}
	agent, err := s.agents.Get(ctx, ws, c.AgentID)
	if err != nil {
		if apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		agent = agentapi.Agent{ID: c.AgentID, WorkspaceID: ws, Name: "Your agent"} // deleted since
	}
	summary := ""
	if h.Summary != nil {
		summary = *h.Summary
	} else {
		hist, err := s.st.lastMessages(ctx, s.db, c.ID, historyTurns)
		if err != nil {
			return err
		}
		summary, err = s.resp.Summarize(ctx, agent, turns(hist))
		if err != nil || strings.TrimSpace(summary) == "" {
			if err != nil {
				observe.Report(ctx, s.log, "channels: handoff summary failed", err, slog.String("handoffId", h.ID))
			}
			summary = plainSummary(hist)
		}
		// The summary and its handoff_triggered update commit together: the event published
		// when the handoff was decided had summary null; this one (same handoffId) carries it.
		err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
			first, err := s.st.setSummary(ctx, tx, ws, h.ID, summary)
			if err != nil || !first {
				return err
			}
			return s.publishHandoff(ctx, tx, c, h, &summary)
		})
		if err != nil {
			return err
		}
	}

	switch h.Destination {
	case DestZendesk, DestFreshdesk:
		if h.ExternalTicketID == nil {
			ticket, err := s.createTicket(ctx, h, c, summary)
			if err != nil {
				observe.Report(ctx, s.log, "channels: handoff ticket failed, e-mailing instead", err,
					slog.String("handoffId", h.ID), slog.String("destination", h.Destination))
				return s.routeByEmail(ctx, h, c, agent, summary, routedEmailFallback)
			}
			return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
				if err := s.st.setTicket(ctx, tx, ws, h.ID, ticket); err != nil {
					return err
				}
				_, err := s.st.setRouted(ctx, tx, ws, h.ID, h.Destination)
				return err
			})
		}
		_, err := s.st.setRouted(ctx, s.db, ws, h.ID, h.Destination)
		return err
	case DestLiveAgent:
		// Live agents watch the dashboard: handoff_triggered already reached them.
		_, err := s.st.setRouted(ctx, s.db, ws, h.ID, DestLiveAgent)
		return err
	default: // EMAIL_QUEUE, and NONE: someone must hear that a customer waits.
		return s.routeByEmail(ctx, h, c, agent, summary, h.Destination)
	}
}

// routeByEmail e-mails the owners and admins and marks the handoff routed, in one
// transaction (a re-run sends nothing twice).
func (s *Service) routeByEmail(ctx context.Context, h handoffRow, c convRow, agent agentapi.Agent, summary, via string) error {
	to, err := s.staff.NotifyAddresses(ctx, c.WorkspaceID)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		first, err := s.st.setRouted(ctx, tx, c.WorkspaceID, h.ID, via)
		if err != nil || !first {
			return err
		}
		if len(to) == 0 {
			s.log.Warn("channels: handoff e-mail has no recipient (no owner or admin)", slog.String("handoffId", h.ID))
		}
		for _, addr := range to {
			if _, err := s.mailer.Enqueue(ctx, tx, mail.Message{
				WorkspaceID: c.WorkspaceID, To: addr, Template: mail.TemplateHandoff,
				Data: map[string]any{
					"AgentName": agent.Name, "Trigger": h.Trigger, "Channel": c.ChannelType,
					"Customer": customerLabel(c), "Summary": summary,
					"Link": s.frontendURL + "/dashboard/conversations/" + c.ID, "ConversationID": c.ID,
				},
			}); err != nil {
				return fmt.Errorf("channels: handoff e-mail: %w", err)
			}
		}
		return nil
	})
}

// customerLabel is how staff see the customer: the name, else the channel's id for them.
func customerLabel(c convRow) string {
	if c.CustomerName != nil && strings.TrimSpace(*c.CustomerName) != "" {
		return *c.CustomerName
	}
	if c.CustomerID != nil && *c.CustomerID != "" {
		return *c.CustomerID
	}
	return "Anonymous"
}

// plainSummary is the summary when the AI could not write one: the customer's last words.
func plainSummary(hist []msgRow) string {
	var b strings.Builder
	b.WriteString("(automatic summary unavailable) Last customer messages:")
	n := 0
	for i := len(hist) - 1; i >= 0 && n < 3; i-- {
		if hist[i].Role == RoleUser {
			c := hist[i].Content
			if len(c) > 300 {
				c = c[:300] + "…"
			}
			b.WriteString("\n- " + c)
			n++
		}
	}
	return b.String()
}

// Integration credentials, sealed with secretbox in integrations.credentials_enc.
type zendeskCreds struct {
	Subdomain string `json:"subdomain"`
	Email     string `json:"email"`
	APIToken  string `json:"apiToken"`
}

type freshdeskCreds struct {
	Domain string `json:"domain"`
	APIKey string `json:"apiKey"`
}

// SaveIntegration stores (or replaces) a workspace's ZENDESK {subdomain, email, apiToken}
// or FRESHDESK {domain, apiKey} credentials, encrypted. It is the service side of
// PUT /v1/integrations/:kind.
func (s *Service) SaveIntegration(ctx context.Context, ws, kind string, creds map[string]string) error {
	if s.box == nil {
		return apperr.E(apperr.ServiceUnavailable, "CHANNEL_ENCRYPTION_KEY is not configured")
	}
	var v any
	pr := map[string]string{}
	switch kind {
	case DestZendesk:
		z := zendeskCreds{Subdomain: creds["subdomain"], Email: creds["email"], APIToken: creds["apiToken"]}
		for k, val := range map[string]string{"subdomain": z.Subdomain, "email": z.Email, "apiToken": z.APIToken} {
			if strings.TrimSpace(val) == "" {
				pr["credentials."+k] = "is required"
			}
		}
		if pr["credentials.subdomain"] == "" && !dnsLabelRe.MatchString(strings.ToLower(strings.TrimSpace(z.Subdomain))) {
			pr["credentials.subdomain"] = "must be the Zendesk subdomain (acme for acme.zendesk.com)"
		}
		if pr["credentials.email"] == "" && emailAddress(strings.TrimSpace(z.Email)) != "" {
			pr["credentials.email"] = "must be an e-mail address"
		}
		v = z
	case DestFreshdesk:
		f := freshdeskCreds{Domain: creds["domain"], APIKey: creds["apiKey"]}
		for k, val := range map[string]string{"domain": f.Domain, "apiKey": f.APIKey} {
			if strings.TrimSpace(val) == "" {
				pr["credentials."+k] = "is required"
			}
		}
		// The API key goes to this host: only a Freshdesk host, never an arbitrary one.
		if d := strings.ToLower(strings.TrimSpace(f.Domain)); pr["credentials.domain"] == "" &&
			!dnsLabelRe.MatchString(strings.TrimSuffix(d, ".freshdesk.com")) {
			pr["credentials.domain"] = "must be the Freshdesk domain (acme or acme.freshdesk.com)"
		}
		v = f
	default:
		return apperr.NotFoundf("Integration kind")
	}
	if len(pr) > 0 {
		return apperr.ValidationFields(pr)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	enc, ver, err := s.box.Seal(b)
	if err != nil {
		return err
	}
	return s.st.upsertIntegration(ctx, s.db, ws, kind, enc, ver)
}

func (s *Service) integration(ctx context.Context, ws, kind string, dst any) error {
	if s.box == nil {
		return errors.New("CHANNEL_ENCRYPTION_KEY is not configured")
	}
	enc, ver, err := s.st.getIntegration(ctx, s.db, ws, kind)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("no %s integration is configured", kind)
	}
	if err != nil {
		return err
	}
	b, err := s.box.Open(enc, ver)
	if err != nil {
		return fmt.Errorf("%s credentials: %w", kind, err)
	}
	return json.Unmarshal(b, dst)
}

// createTicket opens the Zendesk or Freshdesk ticket and returns its id.
func (s *Service) createTicket(ctx context.Context, h handoffRow, c convRow, summary string) (string, error) {
	customer := customerLabel(c)
	subject := "AI Handoff: " + customer
	switch h.Destination {
	case DestZendesk:
		var cr zendeskCreds
		if err := s.integration(ctx, c.WorkspaceID, DestZendesk, &cr); err != nil {
			return "", err
		}
		base := s.zendeskBase
		if base == "" {
			base = "https://" + cr.Subdomain + ".zendesk.com"
		}
		requester := map[string]any{"name": customer}
		if e := customerEmail(c); e != "" {
			requester["email"] = e
		}
		body := map[string]any{"ticket": map[string]any{
			"subject":   subject,
			"comment":   map[string]any{"body": summary},
			"requester": requester,
			"tags":      []string{"axon-ai-handoff", strings.ToLower(c.ChannelType)},
			"priority":  "normal",
		}}
		var out struct {
			Ticket struct {
				ID json.Number `json:"id"`
			} `json:"ticket"`
		}
		hdr := map[string]string{"Idempotency-Key": "axon-handoff-" + h.ID}
		if err := s.postJSON(ctx, base+"/api/v2/tickets.json", cr.Email+"/token:"+cr.APIToken, hdr, body, &out); err != nil {
			return "", fmt.Errorf("zendesk: %w", err)
		}
		if out.Ticket.ID == "" {
			return "", errors.New("zendesk: no ticket id in the answer")
		}
		return out.Ticket.ID.String(), nil
	case DestFreshdesk:
		var cr freshdeskCreds
		if err := s.integration(ctx, c.WorkspaceID, DestFreshdesk, &cr); err != nil {
			return "", err
		}
		base := s.freshdeskBase
		if base == "" {
			d := cr.Domain
			if !strings.Contains(d, ".") {
				d += ".freshdesk.com"
			}
			base = "https://" + d
		}
		body := map[string]any{
			"subject": subject, "description": summary, "priority": 2, "status": 2, "tags": []string{"axon-ai"},
			"name": customer,
		}
		// Freshdesk needs a requester: the customer's e-mail or phone when known, else an
		// external id unique to this customer.
		switch {
		case customerEmail(c) != "":
			body["email"] = customerEmail(c)
		case customerPhone(c) != "":
			body["phone"] = customerPhone(c)
		default:
			body["unique_external_id"] = "axon:" + c.ID
		}
		var out struct {
			ID json.Number `json:"id"`
		}
		if err := s.postJSON(ctx, base+"/api/v2/tickets", cr.APIKey+":X", nil, body, &out); err != nil {
			return "", fmt.Errorf("freshdesk: %w", err)
		}
		if out.ID == "" {
			return "", errors.New("freshdesk: no ticket id in the answer")
		}
		return out.ID.String(), nil
	}
	return "", fmt.Errorf("no ticketing system for %s", h.Destination)
}

func customerEmail(c convRow) string {
	if c.CustomerID != nil && strings.Contains(*c.CustomerID, "@") && !strings.ContainsAny(*c.CustomerID, " <>") {
		return *c.CustomerID
	}
	return ""
}

func customerPhone(c convRow) string {
	if c.CustomerID == nil {
		return ""
	}
	switch c.ChannelType {
	case "WHATSAPP", "SMS", "VOICE":
		p := strings.TrimPrefix(*c.CustomerID, "whatsapp:")
		if _, err := strconv.ParseUint(strings.TrimPrefix(p, "+"), 10, 64); err == nil {
			return p
		}
	}
	return ""
}

// postJSON POSTs body with basic auth and decodes a 2xx answer into out.
func (s *Service) postJSON(ctx context.Context, url, basic string, hdr map[string]string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d", req.URL.Path, res.StatusCode)
	}
	dec := json.NewDecoder(bytes.NewReader(rb))
	dec.UseNumber()
	return dec.Decode(out)
}

// errPermanent marks a job error that retrying cannot fix.
type errPermanent struct{ error }

func (e errPermanent) Unwrap() error { return e.error }
