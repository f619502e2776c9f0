package auth

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// SendPasswordResetArgs is the auth.send_password_reset job: e-mail a reset link to Email
// if it belongs to an account. The args hold the address only, never a token.
type SendPasswordResetArgs struct {
	Email string `json:"email"`
}

// Kind implements river.JobArgs.
func (SendPasswordResetArgs) Kind() string { return "auth.send_password_reset" }

// InsertOpts: the email queue, 3 attempts.
func (SendPasswordResetArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.QueueEmail, MaxAttempts: 3}
}

type sendPasswordResetWorker struct {
	river.WorkerDefaults[SendPasswordResetArgs]
	svc *Service
}

// Timeout bounds one attempt.
func (w *sendPasswordResetWorker) Timeout(*river.Job[SendPasswordResetArgs]) time.Duration {
	return 30 * time.Second
}

func (w *sendPasswordResetWorker) Work(ctx context.Context, job *river.Job[SendPasswordResetArgs]) error {
	return w.svc.sendPasswordReset(ctx, job.Args.Email)
}
