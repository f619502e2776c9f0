package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/agents/agentapi"
	"github.com/axonhq/axon/modules/billing/credit"
	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/web"
)

// Inbound is one customer message arriving on any channel.
type Inbound struct {
	WorkspaceID, AgentID string
	ChannelType          string // WEB | WHATSAPP | ...
	CustomerID           string // widget visitor id, dashboard user id, phone number, ...
	CustomerName         string
	ConversationID       string // optional: the caller already knows the conversation (dashboard chat, widget session)
	ChannelMsgID         string // dedupe key; "" when the channel has none
	Content              string
	// Strict: at too few credits answer apperr INSUFFICIENT_CREDITS 402 (dashboard chat)
	// instead of the customer fallback text.
	Strict bool
	// Agent, when set, is AgentID's agent as the caller has just read it (the dashboard
	// chat checks it before anything is stored); Respond reads it otherwise.
	Agent *agentapi.Agent
}

// Reply is what Respond stored and decided for one inbound message.
type Reply struct {
	ConversationID string
	// UserMessageID is the stored USER message (the earlier one when Duplicate).
	UserMessageID string
	// Message is the reply shown to the customer (ASSISTANT, or SYSTEM for canned, fallback
	// and handoff texts); nil when a human has the conversation and the AI stays silent, or
	// when Duplicate.
	Message *Message
	// Handoff is set when this message triggered one.
	Handoff *HandoffRef
	// Duplicate is true when ChannelMsgID had been seen in this conversation before and was
	// answered then: the message was not processed again. (One seen but never answered is
	// answered now, and Duplicate is false.)
	Duplicate bool
}

// HandoffRef names a handoff triggered by a message.
type HandoffRef struct {
	ID          string `json:"id"`
	Trigger     string `json:"trigger"`
	Destination string `json:"destination"`
}

// Customer-facing texts of the pipeline.
const (
	TextNoCredits     = "I'm sorry, I'm unable to respond right now. Please try again later."
	TextProviderError = "I'm having trouble right now. Please try again in a moment."
)

// Source is one knowledge chunk an answer was given.
type Source = agentapi.Source

// Pipeline tuning.
const (
	// leaseTTL bounds how long a crashed responder blocks its conversation: a live one
	// renews its lease every leaseRenewEvery while it answers (a completion may take 30 s
	// and scoring more), so a dead one's lapses within leaseTTL.
	leaseTTL        = 30 * time.Second
	leaseRenewEvery = 10 * time.Second
	// leaseWait bounds how long a message waits for the conversation's previous one to be
	// answered.
	leaseWait = 4 * time.Minute
	// historyTurns is how much of the conversation the responder is given (it keeps the
	// last 8 turns within its token budget).
	historyTurns = 20
	// tagMinComposite is the confidence an answer needs before the conversation is
	// auto-tagged.
	tagMinComposite = 0.6
)

// Respond runs the whole pipeline for one message; onDelta (may be nil) receives the
// streamed answer pieces. It returns what was stored and decided.
//
// Errors: NOT_FOUND for an unknown agent or a ConversationID that is not this agent's
// conversation on this channel; VALIDATION_ERROR for empty or oversized content;
// INSUFFICIENT_CREDITS (402) when Strict and the balance is below one reply; the context's
// error (or onDelta's) when the caller went away mid-answer. Provider failures are not
// errors: the customer gets TextProviderError.
func (s *Service) Respond(ctx context.Context, in Inbound, onDelta func(string) error) (Reply, error) {
	in.Content = strings.TrimSpace(in.Content)
	p := web.Problems{}
	p.Check(in.Content != "", "content", "is required")
	p.Check(utf8.RuneCountInString(in.Content) <= MaxContent, "content", fmt.Sprintf("must be at most %d characters", MaxContent))
	p.Check(slices.Contains(validChannelTypes, in.ChannelType), "channelType", "is not a channel type")
	p.Check(len(in.ChannelMsgID) <= 255, "channelMsgId", "must be at most 255 characters")
	if err := p.Err(); err != nil {
		return Reply{}, err
	}
	// The balance (step 4) is read while the agent is: a read, so reading it before the USER
	// message is stored changes nothing (Deduct re-checks it in the reply's transaction),
	// and its round trip is not waited for in turn. Paths that do not need it (a duplicate,
	// a human's conversation, a closed gate) waste one read.
	balance := s.balanceAsync(ctx, in.WorkspaceID)
	agent, err := s.agent(ctx, in)
	if err != nil {
		return Reply{}, err
	}

	// 1. Resolve the conversation (a short transaction, no lock held afterwards), unless the
	// caller named it: then the lease's statement checks that it is this agent's conversation
	// on this channel.
	conv := convRow{ID: strings.ToLower(in.ConversationID), WorkspaceID: in.WorkspaceID, AgentID: in.AgentID, ChannelType: in.ChannelType}
	if in.ConversationID == "" {
		conv, err = s.resolveConversation(ctx, customerKey{
			WorkspaceID: in.WorkspaceID, AgentID: in.AgentID, ChannelType: in.ChannelType, CustomerID: in.CustomerID, Name: in.CustomerName,
		}, "")
		if err != nil {
			return Reply{}, err
		}
	} else if !web.IsUUID(in.ConversationID) {
		return Reply{}, ErrConversationNotFound
	}
	// One message of a conversation is answered at a time: the lease is taken in the USER
	// message's transaction, so turns never interleave (USER, reply, USER, reply). The
	// reply's statement releases it; every other way out releases it here.
	ls := &lease{convID: conv.ID, owner: newID(), held: true}
	defer s.release(ctx, ls)

	u, err := s.storeUser(ctx, conv, in, ls.owner)
	if err != nil {
		return Reply{}, err
	}
	defer s.renewLease(ctx, ls)()
	user, dup, conv := u.msg, u.dup, u.conv
	rep := Reply{ConversationID: conv.ID, UserMessageID: user.ID, Duplicate: dup}
	if dup {
		// Seen before. Answered: nothing to do. Not answered (the worker that stored it died
		// mid-answer, or the caller went away): answer it now. The lease makes this safe: a
		// first attempt still running holds it, and its reply is visible once we get it.
		answered, err := s.st.answeredAfter(ctx, s.db, conv.ID, user.CreatedAt, user.ID)
		if err != nil || answered {
			return rep, err
		}
		rep.Duplicate = false
	}

	// 2. A human has the conversation: the AI stays silent.
	if conv.Status != StatusOpen {
		return rep, nil
	}

	// 3. Gate: inactive agent, business hours.
	if g := s.resp.Gate(agent, s.now()); g.Kind != agentapi.GateOpen {
		if g.HandoffTrigger != "" {
			return s.handOff(ctx, rep, conv, user, agent, g.HandoffTrigger, nil, "")
		}
		return s.finishSystem(ctx, rep, conv, user, ls, g.Text, map[string]any{"gate": g.Kind})
	}

	// 4. Credits before any AI call.
	bal, err := balance()
	if err != nil {
		return rep, err
	}
	if bal < credit.CostReply {
		if in.Strict {
			return rep, credit.ErrInsufficientCredits.WithDetails(map[string]any{"balance": bal, "required": credit.CostReply})
		}
		return s.finishSystem(ctx, rep, conv, user, ls, TextNoCredits, map[string]any{"fallback": "insufficient_credits"})
	}

	// 5–8. Retrieval, completion, scoring and the handoff decision.
	hist := u.history
	if hist == nil { // a duplicate answered now: its turns were not read with it
		rows, err := s.st.history(ctx, s.db, conv.ID, user.CreatedAt, user.ID, historyTurns)
		if err != nil {
			return rep, err
		}
		hist = turns(rows)
	}
	var deltaErr error
	var sink func(string) error
	if onDelta != nil {
		sink = func(d string) error {
			if err := onDelta(d); err != nil {
				deltaErr = err
				return err
			}
			return nil
		}
	}
	started := time.Now()
	ans, err := s.resp.Answer(ctx, agentapi.AnswerRequest{Agent: agent, History: hist, Message: in.Content}, sink)
	latency := int(time.Since(started).Milliseconds())
	if err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if deltaErr != nil {
			// The caller's stream failed (the client went away): nothing to answer to.
			return rep, deltaErr
		}
		// 10. Provider errors and timeouts: a fallback text, no charge.
		observe.Report(ctx, s.log, "channels: answer failed", err,
			slog.String("conversationId", conv.ID), slog.String("agentId", agent.ID))
		return s.finishSystem(ctx, rep, conv, user, ls, TextProviderError, map[string]any{"fallback": "provider_error"})
	}
	// Confidence is stored only when the answer was scored (an explicit request is
	// decided without any AI call): NULL, never a made-up 0.
	var comp *float64
	if ans.Scored {
		comp = &ans.Scores.Composite
	}
	if ans.Handoff != nil {
		return s.handOff(ctx, rep, conv, user, agent, ans.Handoff.Trigger, comp, ans.Content)
	}

	// 9. The reply, its credit and its delivery in one transaction that re-checks the
	// conversation. The reply's insert releases the lease (one commit less), unless
	// auto-tagging is to run under it.
	tokens := ans.PromptTokens + ans.CompletionTokens
	meta := map[string]any{"sources": nonNil(ans.Sources)}
	if ans.Scored {
		meta["scores"] = map[string]float64{"factual": ans.Scores.Factual, "intent": ans.Scores.Intent, "emotional": ans.Scores.Emotional}
	}
	tag := agent.TaggingEnabled && comp != nil && *comp >= tagMinComposite && len(agent.AvailableTags) > 0
	releaseWith := ls.owner
	if tag {
		releaseWith = ""
	}
	var stored *msgRow
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, m, err := s.storeIfOurs(ctx, tx, conv, user, newMsg{
			Role: RoleAssistant, Content: ans.Content, Confidence: comp, LatencyMs: &latency, Tokens: &tokens,
			Metadata: meta, ReleaseLease: releaseWith,
		})
		if err != nil || m == nil {
			return err
		}
		if _, err := s.credits.Deduct(ctx, tx, credit.Deduction{
			WorkspaceID: c.WorkspaceID, Amount: credit.CostReply, Reason: credit.ReasonMessageConsumed,
			RefID: m.ID, IdempotencyKey: "reply:" + m.ID,
		}); err != nil {
			// Spent between the balance check and now (a concurrent conversation): the
			// answer is not stored and the customer gets the fallback below.
			return err
		}
		stored = m
		return nil
	})
	if errors.Is(err, credit.ErrInsufficientCredits) {
		if in.Strict {
			return rep, err
		}
		return s.finishSystem(ctx, rep, conv, user, ls, TextNoCredits, map[string]any{"fallback": "insufficient_credits"})
	}
	if err != nil {
		return rep, err
	}
	if stored == nil {
		// A human reply or a handoff won the race: nothing stored, nothing charged.
		s.log.Info("channels: AI reply dropped, a human has the conversation", slog.String("conversationId", conv.ID))
		return rep, nil
	}
	ls.held = releaseWith == ""
	out := stored.out()
	rep.Message = &out

	if tag {
		s.autoTag(ctx, conv, agent)
	}
	return rep, nil
}

// balanceAsync reads the workspace's credit balance in the background; the returned func
// waits for it. Not waiting for it is fine: the read ends on its own (or with ctx).
func (s *Service) balanceAsync(ctx context.Context, ws string) func() (int, error) {
	type result struct {
		bal int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		bal, err := s.credits.Balance(ctx, ws)
		ch <- result{bal, err}
	}()
	return func() (int, error) {
		r := <-ch
		return r.bal, r.err
	}
}

// agent is in.Agent when the caller read it (and it is in.AgentID's of in.WorkspaceID),
// else the agent read now.
func (s *Service) agent(ctx context.Context, in Inbound) (agentapi.Agent, error) {
	if a := in.Agent; a != nil && a.ID == in.AgentID && a.WorkspaceID == in.WorkspaceID {
		return *a, nil
	}
	return s.agents.Get(ctx, in.WorkspaceID, in.AgentID)
}

// lease is Respond's hold on its conversation (conversations.lease_owner/lease_until).
type lease struct {
	convID, owner string
	// held is false once a reply's statement released the lease.
	held bool
}

// release lets the conversation go unless a reply already did. It runs even when ctx is
// cancelled; a failed release only delays the next message until the lease expires.
func (s *Service) release(ctx context.Context, l *lease) {
	if !l.held {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.st.releaseLease(rctx, s.db, l.convID, l.owner); err != nil {
		s.log.Warn("channels: lease release failed", slog.String("conversationId", l.convID), slog.String("err", err.Error()))
	}
}

// renewLease keeps l alive every leaseRenewEvery until the returned stop is called (the
// reply's statement may release it meanwhile: renewing a lease no longer ours changes
// nothing).
func (s *Service) renewLease(ctx context.Context, l *lease) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.leaseRenew)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTTL/3)
				if err := s.st.renewLease(rctx, s.db, l.convID, l.owner, leaseTTL); err != nil {
					s.log.Warn("channels: lease renewal failed", slog.String("conversationId", l.convID), slog.String("err", err.Error()))
				}
				cancel()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// customerKey names one customer of one agent on one channel: the resolver's lock key.
type customerKey struct {
	WorkspaceID, AgentID, ChannelType, CustomerID string
	// Name, when not empty, is recorded as the customer's name.
	Name string
}

// resolveConversation is the one conversation resolver (the pipeline's step 1, the widget
// session and the dashboard chat). With conversationID it returns that conversation when
// it is the customer's agent's and channel's (NOT_FOUND otherwise, and for a malformed id);
// without, the customer's newest OPEN or HANDED_OFF conversation, else a new OPEN one,
// under a transaction-scoped advisory lock on the key so that two first messages open one
// conversation.
func (s *Service) resolveConversation(ctx context.Context, k customerKey, conversationID string) (convRow, error) {
	var c convRow
	if conversationID != "" {
		if !web.IsUUID(conversationID) {
			return c, ErrConversationNotFound
		}
		c, err := s.st.getConversation(ctx, s.db, k.WorkspaceID, strings.ToLower(conversationID), false)
		if err != nil {
			return c, notFound(err, ErrConversationNotFound)
		}
		if c.AgentID != k.AgentID || c.ChannelType != k.ChannelType {
			return c, ErrConversationNotFound
		}
		return c, nil
	}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.lockCustomer(ctx, tx, k.WorkspaceID, k.AgentID, k.ChannelType, k.CustomerID); err != nil {
			return err
		}
		var err error
		c, err = s.st.findActive(ctx, tx, k.WorkspaceID, k.AgentID, k.ChannelType, k.CustomerID)
		switch {
		case errors.Is(err, errNoRows):
			c, err = s.st.insertConversation(ctx, tx, k.WorkspaceID, k.AgentID, k.ChannelType, k.CustomerID, k.Name)
		case err == nil && k.Name != "":
			err = s.st.renameCustomer(ctx, tx, k.WorkspaceID, c.ID, k.Name)
		}
		return err
	})
	return c, err
}

// userStored is what storeUser stored.
type userStored struct {
	msg  msgRow
	dup  bool
	conv convRow // as it is after the message
	// history is the turns before msg, oldest first; nil for a duplicate.
	history []agentapi.Turn
}

// storeUser takes the conversation's lease and, in the same transaction, stores the USER
// message (deduplicated on ChannelMsgID), touches the conversation, reads the turns before
// the message and publishes user_message. While another message of the conversation is
// being answered it waits (with backoff, bounded by ctx and by twice the lease's life). A
// RESOLVED or ABANDONED conversation named by the caller is re-opened. Errors:
// ErrConversationNotFound when c is missing or not c.AgentID's conversation on
// c.ChannelType; ctx's error.
func (s *Service) storeUser(ctx context.Context, c convRow, in Inbound, owner string) (userStored, error) {
	wait := 10 * time.Millisecond
	deadline := time.Now().Add(leaseWait)
	for {
		u, taken, err := s.leaseAndStoreUser(ctx, c, in, owner)
		if err != nil || taken {
			return u, err
		}
		if time.Now().After(deadline) {
			return u, fmt.Errorf("channels: conversation %s stayed busy", c.ID)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return u, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// leaseAndStoreUser is one attempt of storeUser: taken is false (and nothing written) when
// another holder's lease is live. The common case, an OPEN or HANDED_OFF conversation whose
// lease is free, is one autocommit statement (store.leaseStoreUser); a conversation to
// re-open, one that is busy or not found takes the transaction below.
func (s *Service) leaseAndStoreUser(ctx context.Context, c convRow, in Inbound, owner string) (u userStored, taken bool, err error) {
	l, taken, err := s.st.leaseStoreUser(ctx, s.db, c, owner, leaseTTL, newMsg{Content: in.Content, ChannelMsgID: in.ChannelMsgID}, historyTurns)
	if err != nil || taken {
		return userStored{msg: l.msg, dup: l.dup, conv: l.conv, history: l.history}, taken && err == nil, err
	}
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, ok, err := s.st.takeLease(ctx, tx, c.WorkspaceID, c.ID, c.AgentID, c.ChannelType, owner, leaseTTL)
		if err != nil {
			return err
		}
		if taken = ok; !ok {
			// Busy, or not the agent's conversation on this channel.
			cur, err = s.st.getConversation(ctx, tx, c.WorkspaceID, c.ID, false)
			if err != nil {
				return notFound(err, ErrConversationNotFound)
			}
			if cur.AgentID != c.AgentID || cur.ChannelType != c.ChannelType {
				return ErrConversationNotFound
			}
			return nil
		}
		u.conv = cur
		u.msg, u.dup, u.history, err = s.st.insertUser(ctx, tx, newMsg{
			ConversationID: cur.ID, WorkspaceID: cur.WorkspaceID, Role: RoleUser, Content: in.Content, ChannelMsgID: in.ChannelMsgID,
		}, historyTurns)
		if err != nil || u.dup {
			return err
		}
		if cur.Status == StatusResolved || cur.Status == StatusAbandoned {
			if u.conv, err = s.st.setStatus(ctx, tx, cur.WorkspaceID, cur.ID, StatusOpen); err != nil {
				return err
			}
			if err := s.publishStatus(ctx, tx, u.conv); err != nil {
				return err
			}
		}
		return s.st.publishUserMessage(ctx, tx, u.msg.ID)
	})
	return u, taken && err == nil, err
}

// stillOurs locks the conversation in tx and reports whether the AI may still answer user:
// the conversation is OPEN and no human replied after user.
func (s *Service) stillOurs(ctx context.Context, tx *sqlx.Tx, c convRow, user msgRow) (convRow, bool, error) {
	cur, err := s.st.getConversation(ctx, tx, c.WorkspaceID, c.ID, true)
	if err != nil {
		return cur, false, err
	}
	if cur.Status != StatusOpen {
		return cur, false, nil
	}
	human, err := s.st.humanAfter(ctx, tx, c.ID, user.CreatedAt, user.ID)
	return cur, !human && err == nil, err
}

// storeIfOurs is the reply's half of stillOurs: it locks the conversation and, when it is
// OPEN, stores nm (storeOut) unless a human replied after user. m is nil when the AI may no
// longer answer. One statement does it all (store.insertIfOurs) unless the conversation
// changed after that statement's snapshot; then the lock is taken first and the insert, a
// statement of its own, sees a human reply committed while the lock was awaited.
func (s *Service) storeIfOurs(ctx context.Context, tx *sqlx.Tx, c convRow, user msgRow, nm newMsg) (convRow, *msgRow, error) {
	nm.UnlessHumanAfter = &user
	cur, m, fresh, err := s.st.insertIfOurs(ctx, tx, outgoing(c, nm))
	if err != nil {
		return cur, nil, err
	}
	if fresh {
		if m == nil {
			return cur, nil, nil
		}
		return cur, m, s.enqueueSend(ctx, tx, cur, *m)
	}
	cur, err = s.st.getConversation(ctx, tx, c.WorkspaceID, c.ID, true)
	if err != nil || cur.Status != StatusOpen {
		return cur, nil, err
	}
	mr, err := s.storeOut(ctx, tx, cur, nm)
	if errors.Is(err, errHumanReplied) {
		return cur, nil, nil
	}
	if err != nil {
		return cur, nil, err
	}
	return cur, &mr, nil
}

// finishSystem stores a SYSTEM reply (canned, closed, fallback) unless a human took over
// meanwhile, releasing ls in the same statement. It charges nothing.
func (s *Service) finishSystem(ctx context.Context, rep Reply, c convRow, user msgRow, ls *lease, text string, meta map[string]any) (Reply, error) {
	var stored *msgRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		_, stored, err = s.storeIfOurs(ctx, tx, c, user, newMsg{Role: RoleSystem, Content: text, Metadata: meta, ReleaseLease: ls.owner})
		return err
	})
	if err == nil && stored != nil {
		ls.held = false
		out := stored.out()
		rep.Message = &out
	}
	return rep, err
}

// autoTag tags the conversation once (when it has no tags yet) with at most 3 of the
// agent's tags, for 2 credits. Failures are logged; the reply is already stored.
func (s *Service) autoTag(ctx context.Context, c convRow, agent agentapi.Agent) {
	cur, err := s.st.getConversation(ctx, s.db, c.WorkspaceID, c.ID, false)
	if err != nil || len(cur.Tags) > 0 || autoTagged(cur.Metadata) {
		return
	}
	if bal, err := s.credits.Balance(ctx, c.WorkspaceID); err != nil || bal < credit.CostTagging {
		return
	}
	hist, err := s.st.lastMessages(ctx, s.db, c.ID, historyTurns)
	if err != nil {
		return
	}
	picked, err := s.resp.Tag(ctx, agent, turns(hist))
	if err != nil {
		observe.Report(ctx, s.log, "channels: auto-tagging failed", err, slog.String("conversationId", c.ID))
		return
	}
	var tags []string
	for _, t := range picked {
		if slices.Contains(agent.AvailableTags, t) && !slices.Contains(tags, t) && len(tags) < 3 {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return
	}
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.st.getConversation(ctx, tx, c.WorkspaceID, c.ID, true)
		if err != nil || len(cur.Tags) > 0 || autoTagged(cur.Metadata) {
			return err
		}
		if err := s.st.setAutoTags(ctx, tx, c.WorkspaceID, c.ID, tags); err != nil {
			return err
		}
		_, err = s.credits.Deduct(ctx, tx, credit.Deduction{
			WorkspaceID: c.WorkspaceID, Amount: credit.CostTagging, Reason: credit.ReasonTaggingConsumed,
			RefID: c.ID, IdempotencyKey: "tagging:" + c.ID,
		})
		return err
	})
	if err != nil && !errors.Is(err, credit.ErrInsufficientCredits) {
		s.log.Warn("channels: auto-tags not stored", slog.String("conversationId", c.ID), slog.String("err", err.Error()))
	}
}

func autoTagged(md []byte) bool {
	var v struct {
		AutoTagged bool `json:"autoTagged"`
	}
	return json.Unmarshal(md, &v) == nil && v.AutoTagged
}

func turns(rows []msgRow) []agentapi.Turn {
	out := make([]agentapi.Turn, len(rows))
	for i, r := range rows {
		out[i] = agentapi.Turn{Role: r.Role, Content: r.Content}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
