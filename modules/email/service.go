package email

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/mail"
	"strings"
	texttemplate "text/template"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/pg"
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
	store  store
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

// ErrPermanent marks a delivery that no retry can fix (the e-mail is gone, its secret cannot
// be opened, its template cannot be rendered); errors.Is matches it, and the job layer
// cancels the job instead of retrying.
var ErrPermanent = errors.New("email: permanent failure")

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
	id := pg.NewID()
	if err := s.store.insert(ctx, tx, newEmail{
		id: id, workspaceID: m.WorkspaceID, to: addr.Address, subject: r.Subject, template: m.Template,
		data: data, secret: sealed, secretVersion: version,
	}); err != nil {
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

// deliver sends one stored e-mail; it is idempotent (a SENT row is not sent again, and the
// e-mail id is Resend's idempotency key). It returns an error wrapping ErrPermanent when
// retrying cannot help; on the last attempt a send failure marks the e-mail FAILED.
func (s *Service) deliver(ctx context.Context, id string, lastAttempt bool) error {
	row, found, err := s.store.get(ctx, s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: email %s no longer exists", ErrPermanent, id)
	}
	if row.Status == "SENT" {
		return nil
	}
	var data map[string]any
	_ = json.Unmarshal(row.Data, &data)
	secret, err := s.openSecret(row.Secret, row.SecretVersion)
	if err != nil {
		_ = s.store.markFailed(ctx, s.db, id, err.Error())
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	r, err := s.Render(row.Template, row.To, withSecret(data, secret))
	if err != nil {
		_ = s.store.markFailed(ctx, s.db, id, err.Error())
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	providerID, err := s.sender.Send(ctx, r, id)
	if err != nil {
		if lastAttempt {
			_ = s.store.markFailed(context.WithoutCancel(ctx), s.db, id, err.Error())
		} else {
			_ = s.store.noteError(ctx, s.db, id, err.Error())
		}
		return err
	}
	return s.store.markSent(context.WithoutCancel(ctx), s.db, id, providerID)
}
