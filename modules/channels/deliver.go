package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/platform/realtime"
)

// Outbound delivery: the channels.send_message job sends one stored outbound message
// (an AI reply, a human's reply, a notice) on its conversation's channel.

// TypeDeliveryFailed is the realtime event of a message whose delivery failed for good:
// {conversationId, messageId, deliveryStatus: "FAILED", error}.
const TypeDeliveryFailed = "message_delivery_failed"

// deliveryMeta is the part of messages.metadata delivery writes and reads back.
type deliveryMeta struct {
	// DeliveredParts is how many parts of a split message earlier attempts delivered: a
	// retry resumes after them.
	DeliveredParts int `json:"deliveredParts,omitempty"`
}

// deliver sends one outbound message and records the outcome on it. Already SENT or
// FAILED: nothing to do (a re-run is a no-op). WEB and VOICE messages are delivered by being
// stored (the widget reads them; the call says them in its TwiML). A failure that retrying
// cannot fix, or the last attempt's, marks the message FAILED (reason in
// metadata.deliveryError) and emits TypeDeliveryFailed; other failures are returned for a
// retry, with the parts already delivered recorded.
func (s *Service) deliver(ctx context.Context, ws, msgID string, lastAttempt bool) error {
	m, err := s.st.getMessage(ctx, s.db, ws, msgID, false)
	if errors.Is(err, errNoRows) {
		return errPermanent{fmt.Errorf("channels: message %s not found", msgID)}
	}
	if err != nil {
		return err
	}
	if m.DeliveryStatus != nil && *m.DeliveryStatus != deliveryPending {
		return nil
	}
	c, err := s.st.getConversation(ctx, s.db, ws, m.ConversationID, false)
	if err != nil {
		return err
	}
	if c.ChannelType == ChannelWeb || c.ChannelType == "VOICE" {
		return s.st.setDelivery(ctx, s.db, ws, msgID, deliverySent, nil)
	}
	d, sender, why, err := s.delivery(ctx, c, m)
	if err != nil {
		return err
	}
	if why != "" {
		return s.failDelivery(ctx, c, m, errors.New(why))
	}
	// SENT is written before the call, in a transaction that commits once the platform has
	// accepted: between its answer and our record there is then only the COMMIT to write
	// (Postgres completes a commit it has received even if this process dies at once), not
	// a pool wait and a statement. A worker killed in that window leaves the message
	// PENDING and it is sent again after the rescue (no platform but Resend takes an
	// idempotency key); the window is kept as small as it can be. The transaction does not
	// follow ctx, so a timeout right after the platform's answer cannot roll it back.
	tx, err := s.db.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after a commit, a no-op
	if err := s.st.setDelivery(ctx, tx, ws, msgID, deliverySent, nil); err != nil {
		return err
	}
	n, sendErr := sender.Send(ctx, d)
	if sendErr == nil {
		return tx.Commit()
	}
	if err := tx.Rollback(); err != nil {
		return err
	}
	if n > d.SkipParts {
		if err := s.st.setDelivery(ctx, s.db, ws, msgID, deliveryPending, map[string]any{"deliveredParts": n}); err != nil {
			return err
		}
	}
	if outbound.IsPermanent(sendErr) || lastAttempt {
		return s.failDelivery(ctx, c, m, sendErr)
	}
	return sendErr
}

// delivery builds the platform delivery of message m: the channel's sender and
// credentials, the customer's address and how to thread the reply. why is set (and the
// rest empty) when the message cannot be delivered at all.
func (s *Service) delivery(ctx context.Context, c convRow, m msgRow) (d outbound.Delivery, sender outbound.Sender, why string, err error) {
	if s.outbound == nil {
		return d, nil, "outbound delivery is not configured", nil
	}
	sender, ok := s.outbound.For(c.ChannelType)
	if !ok {
		return d, nil, "no sender for the " + c.ChannelType + " channel (EMAIL replies need RESEND_API_KEY)", nil
	}
	if c.CustomerID == nil || *c.CustomerID == "" {
		return d, nil, "the conversation has no customer address", nil
	}
	r, err := s.st.workspaceChannel(ctx, s.db, c.WorkspaceID, c.ChannelType)
	if errors.Is(err, errNoRows) {
		return d, nil, "the " + c.ChannelType + " channel is not configured", nil
	}
	if err != nil {
		return d, nil, "", err
	}
	if s.box == nil {
		return d, nil, "CHANNEL_ENCRYPTION_KEY is not configured", nil
	}
	ch, err := s.openChannel(r)
	if err != nil {
		return d, nil, "", err
	}
	to, err := s.st.replyAddress(ctx, s.db, ch.ID, *c.CustomerID)
	if err != nil {
		return d, nil, "", err
	}
	var md deliveryMeta
	if len(m.Metadata) > 0 {
		_ = json.Unmarshal(m.Metadata, &md) // a row without the field resumes at part 0
	}
	return outbound.Delivery{
		Creds: ch.Creds, To: *c.CustomerID, Thread: to.Thread, Subject: to.Subject, Text: m.Content,
		IdempotencyKey: "axon-message/" + m.ID, SkipParts: md.DeliveredParts,
	}, sender, "", nil
}

// failDelivery marks the message FAILED with the reason and tells the dashboard, in one
// transaction; the job is then cancelled.
func (s *Service) failDelivery(ctx context.Context, c convRow, m msgRow, cause error) error {
	reason := cause.Error()
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.setDelivery(ctx, tx, c.WorkspaceID, m.ID, deliveryFailed, map[string]any{"deliveryError": reason}); err != nil {
			return err
		}
		return s.pub.Publish(ctx, tx, realtime.Event{
			WorkspaceID: c.WorkspaceID, ConversationID: c.ID, Type: TypeDeliveryFailed,
			Payload: map[string]any{"conversationId": c.ID, "messageId": m.ID, "deliveryStatus": deliveryFailed, "error": reason},
		})
	})
	if err != nil {
		return err
	}
	s.log.Warn("channels: delivery failed", slog.String("messageId", m.ID), slog.String("channelType", c.ChannelType),
		slog.String("err", reason))
	return errPermanent{cause}
}
