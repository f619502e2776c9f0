package email

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/resend/resend-go/v2"

	"github.com/axonhq/axon/configs"
)

// SenderFromConfig returns the Resend sender when RESEND_API_KEY is set, else the
// LogSender (logged as a default): e-mails are then logged and kept in the emails table.
func SenderFromConfig(cfg *configs.Config, log *slog.Logger) (Sender, error) {
	if cfg.ResendAPIKey == "" {
		log.Info("default: no RESEND_API_KEY, e-mails are logged and kept in the emails table")
		return LogSender{Log: log}, nil
	}
	r, err := NewResend(cfg.ResendAPIKey, cfg.ResendFrom, cfg.ResendBaseURL)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Resend sends through the Resend API.
type Resend struct {
	client *resend.Client
	from   string
}

// NewResend builds the Resend sender; baseURL (RESEND_BASE_URL) points it at a fake in tests.
func NewResend(apiKey, from, baseURL string) (*Resend, error) {
	c := resend.NewClient(apiKey)
	if baseURL != "" {
		if !strings.HasSuffix(baseURL, "/") {
			baseURL += "/"
		}
		u, err := url.Parse(baseURL)
		if err != nil {
			return nil, fmt.Errorf("RESEND_BASE_URL: %w", err)
		}
		c.BaseURL = u
	}
	return &Resend{client: c, from: from}, nil
}

// Send delivers r; the idempotency key makes a retried job not send twice.
func (s *Resend) Send(ctx context.Context, r Rendered, idempotencyKey string) (string, error) {
	res, err := s.client.Emails.SendWithOptions(ctx, &resend.SendEmailRequest{
		From:    s.from,
		To:      []string{r.To},
		Subject: r.Subject,
		Html:    r.HTML,
	}, &resend.SendEmailOptions{IdempotencyKey: idempotencyKey})
	if err != nil {
		return "", fmt.Errorf("resend: %w", err)
	}
	return res.Id, nil
}

// LogSender is the development sender: it logs the e-mail instead of sending it.
type LogSender struct{ Log *slog.Logger }

// Send logs r and reports success.
func (s LogSender) Send(ctx context.Context, r Rendered, id string) (string, error) {
	s.Log.InfoContext(ctx, "e-mail (development: logged, not sent)", "emailId", id, "to", r.To, "subject", r.Subject, "html", r.HTML)
	return "logged", nil
}
