package channels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// Sender delivers one outbound message on a channel type. An error means the delivery
// failed and is worth retrying; wrap it in PermanentError when retrying cannot help.
type Sender interface {
	Send(ctx context.Context, conv Conversation, msg Message) error
}

// PermanentError marks a Sender error that retrying cannot fix (bad credentials, a
// recipient the platform refuses): the message is marked FAILED at once.
type PermanentError struct{ Err error }

func (e PermanentError) Error() string { return e.Err.Error() }
func (e PermanentError) Unwrap() error { return e.Err }

// webSender delivers on the web widget: the widget reads history and realtime events, so a
// stored message is delivered.
type webSender struct{}

func (webSender) Send(context.Context, Conversation, Message) error { return nil }

// HandoffArgs is the channels.handoff job: summarise and route one handoff.
type HandoffArgs struct {
	WorkspaceID string `json:"workspaceId"`
	HandoffID   string `json:"handoffId"`
}

// Kind implements river.JobArgs.
func (HandoffArgs) Kind() string { return "channels.handoff" }

// InsertOpts implements river.JobArgsWithInsertOpts: 5 attempts on the default queue.
func (HandoffArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueDefault, MaxAttempts: 5}
}

type handoffWorker struct {
	river.WorkerDefaults[HandoffArgs]
	svc *Service
}

// Timeout bounds one attempt: the summary call (the provider gives up at 30 s) and the
// ticket call. It is kept short because a customer is waiting: a worker that dies mid-job
// is rescued after this plus a margin (platform/queue/rescue.go), about 2 min 20 s at worst.
func (w *handoffWorker) Timeout(*river.Job[HandoffArgs]) time.Duration { return time.Minute }

func (w *handoffWorker) Work(ctx context.Context, j *river.Job[HandoffArgs]) error {
	return jobErr(w.svc.runHandoff(ctx, j.Args.WorkspaceID, j.Args.HandoffID))
}

// SendMessageArgs is the channels.send_message job: deliver one outbound message on its
// conversation's channel.
type SendMessageArgs struct {
	WorkspaceID string `json:"workspaceId"`
	MessageID   string `json:"messageId"`
}

// Kind implements river.JobArgs.
func (SendMessageArgs) Kind() string { return "channels.send_message" }

// sendAttempts is channels.send_message's attempt budget.
const sendAttempts = 5

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SendMessageArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueOutbound, MaxAttempts: sendAttempts}
}

type sendWorker struct {
	river.WorkerDefaults[SendMessageArgs]
	svc *Service
}

// NextRetry backs off exponentially from 5 s, capped at 30 minutes.
func (w *sendWorker) NextRetry(j *river.Job[SendMessageArgs]) time.Time {
	return queue.ExponentialBackoff(j.Attempt, 5*time.Second, 30*time.Minute)
}

func (w *sendWorker) Timeout(*river.Job[SendMessageArgs]) time.Duration { return time.Minute }

func (w *sendWorker) Work(ctx context.Context, j *river.Job[SendMessageArgs]) error {
	return jobErr(w.svc.deliver(ctx, j.Args.WorkspaceID, j.Args.MessageID, j.Attempt >= j.MaxAttempts))
}

// jobErr maps service errors to River: permanent ones cancel the job (visible in the queue
// dashboard), others are retried.
func jobErr(err error) error {
	var p errPermanent
	if errors.As(err, &p) {
		return river.JobCancel(err)
	}
	return err
}

// deliver sends one outbound message through its channel's Sender and records the outcome
// on the message. Already SENT or FAILED: nothing to do (a re-run is a no-op). A channel
// type without a Sender fails the message at once with the reason in metadata.deliveryError.
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
	sender, ok := s.senders[c.ChannelType]
	if !ok {
		reason := fmt.Sprintf("no sender for channel type %s yet: outbound delivery on this channel is not built", c.ChannelType)
		if err := s.st.setDelivery(ctx, s.db, ws, msgID, deliveryFailed, map[string]any{"deliveryError": reason}); err != nil {
			return err
		}
		return errPermanent{errors.New("channels: " + reason)}
	}
	sendErr := sender.Send(ctx, c.out(), m.out())
	if sendErr == nil {
		return s.st.setDelivery(ctx, s.db, ws, msgID, deliverySent, nil)
	}
	var perm PermanentError
	if errors.As(sendErr, &perm) || lastAttempt {
		if err := s.st.setDelivery(ctx, s.db, ws, msgID, deliveryFailed, map[string]any{"deliveryError": sendErr.Error()}); err != nil {
			return err
		}
		s.log.Warn("channels: delivery failed", slog.String("messageId", msgID), slog.String("err", sendErr.Error()))
		return errPermanent{sendErr}
	}
	return sendErr
}
