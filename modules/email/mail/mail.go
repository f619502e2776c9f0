// Package mail is the email module's contract: what another module needs to send
// transactional e-mail (the Mailer interface, the Message it enqueues and the template
// names). It holds only types and constants, so any module may import it (see the
// modules-through-contracts rule in .golangci.yml); the email module implements Mailer and
// main.go passes it in the consumers' Deps.
package mail

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// Templates that can be sent.
const (
	TemplateInvitation    = "invitation"
	TemplateLowCredits    = "low_credits"
	TemplateHandoff       = "handoff"
	TemplateInvoiceReady  = "invoice_ready"
	TemplatePaymentFailed = "payment_failed"
	TemplateVerifyEmail   = "verify_email"
	TemplateResetPassword = "reset_password"
)

// Message is one e-mail to enqueue. Data feeds the template (see the email module's
// templates/*.html for the fields each one uses). Secret holds the template fields that
// carry a credential (a link with an invitation, verification or reset token): they are
// sealed with secretbox in the emails row (never in Data, never in job args, never logged)
// and wiped once the e-mail is sent or has failed for good. A field in both wins from Secret.
type Message struct {
	WorkspaceID string // optional
	To          string
	Template    string
	Data        map[string]any
	Secret      map[string]string
}

// Mailer enqueues e-mail in the caller's transaction.
type Mailer interface {
	Enqueue(ctx context.Context, tx *sqlx.Tx, m Message) (emailID string, err error)
}
