package channels

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/platform/queue"
)

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

// ProcessInboundArgs is the channels.process_inbound job: answer one message a webhook
// stored (channel_inbound).
type ProcessInboundArgs struct {
	WorkspaceID string `json:"workspaceId"`
	InboundID   string `json:"inboundId"`
}

// Kind implements river.JobArgs.
func (ProcessInboundArgs) Kind() string { return "channels.process_inbound" }

// InsertOpts implements river.JobArgsWithInsertOpts: 5 attempts on the inbound queue.
func (ProcessInboundArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueInbound, MaxAttempts: 5}
}

type inboundWorker struct {
	river.WorkerDefaults[ProcessInboundArgs]
	svc *Service
}

// NextRetry backs off exponentially from 2 s, capped at 5 minutes: a customer is waiting.
func (w *inboundWorker) NextRetry(j *river.Job[ProcessInboundArgs]) time.Time {
	return queue.ExponentialBackoff(j.Attempt, 2*time.Second, 5*time.Minute)
}

// Timeout bounds one attempt: waiting for the conversation's turn (another message of the
// same customer being answered), the completion (30 s) and scoring. A worker that dies
// mid-job is rescued after this plus a margin (platform/queue/rescue.go).
func (w *inboundWorker) Timeout(*river.Job[ProcessInboundArgs]) time.Duration {
	return 90 * time.Second
}

func (w *inboundWorker) Work(ctx context.Context, j *river.Job[ProcessInboundArgs]) error {
	return jobErr(w.svc.ProcessInbound(ctx, j.Args.WorkspaceID, j.Args.InboundID))
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
	// retryAfter carries a platform's Retry-After from Work to NextRetry (same process,
	// same attempt), keyed by job id.
	retryAfter sync.Map
}

// NextRetry backs off exponentially from 5 s, capped at 30 minutes, or waits what the
// platform asked for (Retry-After) when that is longer (at most an hour).
func (w *sendWorker) NextRetry(j *river.Job[SendMessageArgs]) time.Time {
	at := queue.ExponentialBackoff(j.Attempt, 5*time.Second, 30*time.Minute)
	if v, ok := w.retryAfter.LoadAndDelete(j.ID); ok {
		if ra := time.Now().Add(min(v.(time.Duration), time.Hour)); ra.After(at) {
			return ra
		}
	}
	return at
}

func (w *sendWorker) Timeout(*river.Job[SendMessageArgs]) time.Duration { return time.Minute }

func (w *sendWorker) Work(ctx context.Context, j *river.Job[SendMessageArgs]) error {
	err := w.svc.deliver(ctx, j.Args.WorkspaceID, j.Args.MessageID, j.Attempt >= j.MaxAttempts)
	if ra := outbound.RetryAfter(err); ra > 0 {
		w.retryAfter.Store(j.ID, ra)
	}
	return jobErr(err)
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
