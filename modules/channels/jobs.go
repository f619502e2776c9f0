package channels

import (
	"context"

	"github.com/riverqueue/river"
)

// Sender delivers one outbound message on a channel type. It returns an error when the
// delivery failed (the job retries).
type Sender interface {
	Send(ctx context.Context, conv Conversation, msg Message) error
}

// webSender delivers on the web widget: the widget reads history and realtime events, so
// the message is delivered once stored.
type webSender struct{}

func (webSender) Send(context.Context, Conversation, Message) error { return nil }

// HandoffArgs is the channels.handoff job.
type HandoffArgs struct {
	HandoffID   string `json:"handoffId"`
	WorkspaceID string `json:"workspaceId"`
}

// Kind implements river.JobArgs.
func (HandoffArgs) Kind() string { return "channels.handoff" }

type handoffWorker struct {
	river.WorkerDefaults[HandoffArgs]
	svc *Service
}

func (w *handoffWorker) Work(ctx context.Context, j *river.Job[HandoffArgs]) error { return nil }

// SendMessageArgs is the channels.send_message job.
type SendMessageArgs struct {
	MessageID   string `json:"messageId"`
	WorkspaceID string `json:"workspaceId"`
}

// Kind implements river.JobArgs.
func (SendMessageArgs) Kind() string { return "channels.send_message" }

type sendWorker struct {
	river.WorkerDefaults[SendMessageArgs]
	svc *Service
}

func (w *sendWorker) Work(ctx context.Context, j *river.Job[SendMessageArgs]) error { return nil }
