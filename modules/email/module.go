// Package email sends transactional e-mail. Other modules enqueue mail through the Mailer
// contract (package email/mail, which they import instead of this one) inside their own
// transaction: the emails row (QUEUED) and its email.send job are written together, so a
// rolled-back change sends nothing and a committed one is never lost.
// The job renders the html/template and sends through Resend (resend-go v2), or, without
// RESEND_API_KEY in development, logs the mail and keeps it in the table.
package email

import (
	"context"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/secretbox"
)

// Templates that can be sent (defined in the mail contract package).
const (
	TemplateInvitation    = mail.TemplateInvitation
	TemplateLowCredits    = mail.TemplateLowCredits
	TemplateHandoff       = mail.TemplateHandoff
	TemplateInvoiceReady  = mail.TemplateInvoiceReady
	TemplatePaymentFailed = mail.TemplatePaymentFailed
	TemplateVerifyEmail   = mail.TemplateVerifyEmail
	TemplateResetPassword = mail.TemplateResetPassword
)

// Message is one e-mail to enqueue (mail.Message, the contract other modules import).
type Message = mail.Message

// Mailer enqueues e-mail in the caller's transaction (mail.Mailer).
type Mailer = mail.Mailer

// Sender delivers one rendered e-mail and returns the provider's id.
type Sender interface {
	Send(ctx context.Context, r Rendered, idempotencyKey string) (providerID string, err error)
}

// Module is the email module.
type Module struct {
	svc *Service
}

// Deps are what the module needs.
type Deps struct {
	DB     sqlx.ExtContext
	Queue  queue.Inserter
	Sender Sender
	Log    *slog.Logger
	// AppURL is the dashboard base URL used in links (first FRONTEND_URL).
	AppURL string
	// Box seals Message.Secret at rest. Without it, a message with a Secret is refused.
	Box *secretbox.Box
}

// New builds the module.
func New(d Deps) (*Module, error) {
	tpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Module{svc: &Service{db: d.DB, queue: d.Queue, sender: d.Sender, log: d.Log, tpl: tpl, appURL: d.AppURL, box: d.Box}}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "email" }

// Routes implements kernel.Module; e-mail has no public routes.
func (m *Module) Routes(*echo.Group) {}

// Workers registers email.send.
func (m *Module) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &sendWorker{svc: m.svc})
}

// Rescues implements kernel.Rescuer: a signup or invitation waits on email.send, so a job
// lost with its worker is retried about RescueMargin after its 30 s timeout.
func (m *Module) Rescues() []queue.Rescue {
	return []queue.Rescue{queue.RescueOf[SendArgs](&sendWorker{})}
}

// Mailer returns the contract other modules use.
func (m *Module) Mailer() Mailer { return m.svc }
