package email

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// SendArgs is the email.send job: deliver one stored e-mail.
type SendArgs struct {
	EmailID string `json:"emailId"`
}

// Kind implements river.JobArgs.
func (SendArgs) Kind() string { return "email.send" }

// InsertOpts: 3 attempts on the email queue.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueEmail, MaxAttempts: 3}
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	svc *Service
}

// NextRetry is a fixed 10 s.
func (w *sendWorker) NextRetry(*river.Job[SendArgs]) time.Time {
	return queue.FixedBackoff(10 * time.Second)
}

// Timeout bounds one delivery attempt.
func (w *sendWorker) Timeout(*river.Job[SendArgs]) time.Duration { return 30 * time.Second }

// Work delivers the e-mail; a permanent failure (ErrPermanent) cancels the job, anything else
// is retried.
func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	err := w.svc.deliver(ctx, job.Args.EmailID, job.Attempt >= job.MaxAttempts)
	if errors.Is(err, ErrPermanent) {
		return river.JobCancel(err)
	}
	return err
}
