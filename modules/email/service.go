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

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

//go:embed templates/*.html
var templateFS embed.FS

// subjects are text/template-free on purpose: a subject is data, kept next to its template.
var subjects = map[string]string{
	TemplateInvitation:    "You're invited to join {{.WorkspaceName}} on Axon",
	TemplateLowCredits:    "Your Axon credits are running low",
	TemplateHandoff:       "[Handoff Required] Customer {{.Customer}}",
	TemplateInvoiceReady:  "Your Axon invoice is ready",
	TemplatePaymentFailed: "Action needed: your Axon payment failed",
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
	tpl    map[string]*template.Template
	appURL string
}

func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for name, subj := range subjects {
		body, err := template.New(name).Option("missingkey=zero").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("email: template %s: %w", name, err)
		}
		if _, err := body.New("subject").Parse(subj); err != nil {
			return nil, fmt.Errorf("email: subject %s: %w", name, err)
		}
		out[name] = body
	}
	return out, nil
}

// ErrUnknownTemplate is returned for a template name that does not exist.
var ErrUnknownTemplate = errors.New("email: unknown template")

const insertEmail = `
INSERT INTO emails (id, workspace_id, "to", subject, template, data)
VALUES ($1, NULLIF($2, '')::uuid, $3, $4, $5, $6)`

// Enqueue validates and renders m (so a broken template fails the caller's transaction, not a
// job three retries later), stores it as QUEUED and inserts its email.send job in tx.
func (s *Service) Enqueue(ctx context.Context, tx *sqlx.Tx, m Message) (string, error) {
	addr, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", fmt.Errorf("email: recipient %q: %w", m.To, err)
	}
	r, err := s.Render(m.Template, addr.Address, m.Data)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return "", fmt.Errorf("email: data: %w", err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := tx.ExecContext(ctx, insertEmail, id, m.WorkspaceID, addr.Address, r.Subject, m.Template, data); err != nil {
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
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return Rendered{}, fmt.Errorf("email: subject %s: %w", name, err)
	}
	if err := t.ExecuteTemplate(&body, "layout", d); err != nil {
		return Rendered{}, fmt.Errorf("email: body %s: %w", name, err)
	}
	return Rendered{To: to, Subject: strings.TrimSpace(subj.String()), HTML: body.String()}, nil
}

type emailRow struct {
	ID       string `db:"id"`
	To       string `db:"to"`
	Template string `db:"template"`
	Data     []byte `db:"data"`
	Status   string `db:"status"`
}

const (
	selectEmail = `SELECT id, "to", template, data, status FROM emails WHERE id = $1`
	markSent    = `UPDATE emails SET status = 'SENT', provider_id = $2, sent_at = now(), error = NULL WHERE id = $1 AND status <> 'SENT'`
	markFailed  = `UPDATE emails SET status = 'FAILED', error = $2 WHERE id = $1 AND status = 'QUEUED'`
	noteError   = `UPDATE emails SET error = $2 WHERE id = $1`
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
	r, err := s.Render(row.Template, row.To, data)
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
