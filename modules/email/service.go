package email

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/mail"
	"strings"
	texttemplate "text/template"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/secretbox"
)

//go:embed templates/*.html
var templateFS embed.FS

// subjects are text/template sources, kept next to the bodies: a subject is a plain-text
// header, so "Alice's Workspace" stays as typed (html/template would send &#39;).
var subjects = map[string]string{
	TemplateInvitation:    "You're invited to join {{.WorkspaceName}} on Axon",
	TemplateLowCredits:    "Your Axon credits are running low",
	TemplateHandoff:       "[Handoff Required] Customer {{.Customer}}",
	TemplateInvoiceReady:  "Your Axon invoice is ready",
	TemplatePaymentFailed: "Action needed: your Axon payment failed",
	TemplateVerifyEmail:   "Confirm your e-mail address for Axon",
	TemplateResetPassword: "Reset your Axon password",
}

// Rendered is a ready-to-send e-mail.
type Rendered struct {
	To      string
	Subject string
	HTML    string
}

// Service renders, enqueues and sends e-mail.
type Service struct {
	db     sqlx.ExtContext
	queue  queue.Inserter
	sender Sender
	log    *slog.Logger
	tpl    map[string]templates
	appURL string
	box    *secretbox.Box // seals Message.Secret; nil: messages with a Secret are refused
}

// templates are one e-mail's HTML body (escaped) and plain-text subject (not escaped).
type templates struct {
	body    *template.Template
	subject *texttemplate.Template
}

func parseTemplates() (map[string]templates, error) {
	out := map[string]templates{}
	for name, subj := range subjects {
		body, err := template.New(name).Option("missingkey=zero").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("email: template %s: %w", name, err)
		}
		subject, err := texttemplate.New("subject").Option("missingkey=zero").Parse(subj)
		if err != nil {
			return nil, fmt.Errorf("email: subject %s: %w", name, err)
		}
		out[name] = templates{body: body, subject: subject}
	}
	return out, nil
}

// ErrUnknownTemplate is returned for a template name that does not exist.
var ErrUnknownTemplate = errors.New("email: unknown template")

const insertEmail = `
INSERT INTO emails (id, workspace_id, "to", subject, template, data, secret, secret_key_version)
VALUES ($1, NULLIF($2, '')::uuid, $3, $4, $5, $6, $7, $8)`

// Enqueue validates and renders m (so a broken template fails the caller's transaction, not a
// job three retries later), stores it as QUEUED and inserts its email.send job in tx.
func (s *Service) Enqueue(ctx context.Context, tx *sqlx.Tx, m Message) (string, error) {
	addr, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", fmt.Errorf("email: recipient %q: %w", m.To, err)
	}
	r, err := s.Render(m.Template, addr.Address, withSecret(m.Data, m.Secret))
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return "", fmt.Errorf("email: data: %w", err)
	}
	sealed, version, err := s.sealSecret(m.Secret)
	if err != nil {
		return "", err
	}
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := tx.ExecContext(ctx, insertEmail, id, m.WorkspaceID, addr.Address, r.Subject, m.Template, data, sealed, version); err != nil {
		return "", fmt.Errorf("email: store: %w", err)
	}
	if _, err := s.queue.InsertTx(ctx, tx.Tx, SendArgs{EmailID: id}, nil); err != nil {
		return "", fmt.Errorf("email: enqueue: %w", err)
	}
	return id, nil
}

// Render fills the template with data (plus AppURL).
func (s *Service) Render(name, to string, data map[string]any) (Rendered, error) {
	t, ok := s.tpl[name]
	if !ok {
		return Rendered{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, name)
	}
	d := map[string]any{"AppURL": s.appURL}
	for k, v := range data {
		d[k] = v
	}
	var subj, body bytes.Buffer
	if err := t.subject.Execute(&subj, d); err != nil {
		return Rendered{}, fmt.Errorf("email: subject %s: %w", name, err)
	}
	if err := t.body.ExecuteTemplate(&body, "layout", d); err != nil {
		return Rendered{}, fmt.Errorf("email: body %s: %w", name, err)
	}
	// A subject is one header line: a line break in the data (a workspace name) is a space.
	subject := strings.Join(strings.Fields(subj.String()), " ")
	return Rendered{To: to, Subject: subject, HTML: body.String()}, nil
}

type emailRow struct {
	ID            string `db:"id"`
	To            string `db:"to"`
	Template      string `db:"template"`
	Data          []byte `db:"data"`
	Status        string `db:"status"`
	Secret        []byte `db:"secret"`
	SecretVersion *int   `db:"secret_key_version"`
}

const (
	selectEmail = `SELECT id, "to", template, data, status, secret, secret_key_version FROM emails WHERE id = $1`
	// Sent or failed for good: the sealed secret (a token link) is of no further use.
	markSent   = `UPDATE emails SET status = 'SENT', provider_id = $2, sent_at = now(), error = NULL, secret = NULL, secret_key_version = NULL WHERE id = $1 AND status <> 'SENT'`
	markFailed = `UPDATE emails SET status = 'FAILED', error = $2, secret = NULL, secret_key_version = NULL WHERE id = $1 AND status = 'QUEUED'`
	noteError  = `UPDATE emails SET error = $2 WHERE id = $1`
)

// deliver sends one stored e-mail; it is idempotent (a SENT row is not sent again, and the
// e-mail id is Resend's idempotency key).
func (s *Service) deliver(ctx context.Context, id string, lastAttempt bool) error {
	var row emailRow
	if err := sqlx.GetContext(ctx, s.db, &row, selectEmail, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return river.JobCancel(fmt.Errorf("email %s no longer exists", id))
		}
		return err
	}
	if row.Status == "SENT" {
		return nil
	}
	var data map[string]any
	_ = json.Unmarshal(row.Data, &data)
	secret, err := s.openSecret(row.Secret, row.SecretVersion)
	if err != nil {
		_, _ = s.db.ExecContext(ctx, markFailed, id, err.Error())
		return river.JobCancel(err)
	}
	r, err := s.Render(row.Template, row.To, withSecret(data, secret))
	if err != nil {
		_, _ = s.db.ExecContext(ctx, markFailed, id, err.Error())
		return river.JobCancel(err)
	}
	providerID, err := s.sender.Send(ctx, r, id)
	if err != nil {
		if lastAttempt {
			_, _ = s.db.ExecContext(context.WithoutCancel(ctx), markFailed, id, err.Error())
		} else {
			_, _ = s.db.ExecContext(ctx, noteError, id, err.Error())
		}
		return err
	}
	_, err = s.db.ExecContext(context.WithoutCancel(ctx), markSent, id, providerID)
	return err
}
