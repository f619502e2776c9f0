package channels

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/web"
)

// Channel is one configured channel as the API shows it: never a credential value. The
// EMAIL inbound key appears only inside WebhookURL.
type Channel struct {
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	IsActive       bool    `json:"isActive"`
	HasCredentials bool    `json:"hasCredentials"`
	WebhookURL     *string `json:"webhookUrl"`
	AgentID        *string `json:"agentId"`
}

// ChannelInput is PUT /v1/channels/:type. Credentials nil keeps the stored ones.
type ChannelInput struct {
	IsActive    *bool
	Credentials map[string]any
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}

func (s *Service) needBox() error {
	if s.box == nil {
		return apperr.E(apperr.ServiceUnavailable, "CHANNEL_ENCRYPTION_KEY is not configured")
	}
	return nil
}

// ListChannels returns the workspace's configured channels, ordered by type.
func (s *Service) ListChannels(ctx context.Context, ws string) ([]Channel, error) {
	rows, err := s.st.listChannels(ctx, s.db, ws)
	if err != nil {
		return nil, err
	}
	out := make([]Channel, 0, len(rows))
	for _, r := range rows {
		c, err := s.channelView(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// channelView builds the API view of a row. Only EMAIL's webhook secret (its inbound key)
// is opened, to put it in the URL.
func (s *Service) channelView(r channelRow) (Channel, error) {
	c := Channel{ID: r.ID, Type: r.Type, IsActive: r.IsActive, HasCredentials: len(r.CredentialsEnc) > 0}
	if r.AgentID.Valid {
		c.AgentID = &r.AgentID.String
	}
	if r.Type == ChannelWeb || !r.Slug.Valid {
		return c, nil
	}
	u := fmt.Sprintf("%s/v1/webhooks/%s/%s", s.apiBase, r.Slug.String, strings.ToLower(r.Type))
	if r.Type == "EMAIL" && len(r.SecretEnc) > 0 && s.box != nil {
		key, err := s.box.Open(r.SecretEnc, int(r.KeyVersion.Int64))
		if err != nil {
			return c, fmt.Errorf("channel %s: webhook secret: %w", r.ID, err)
		}
		u += "?key=" + string(key)
	}
	c.WebhookURL = &u
	return c, nil
}

// PutChannel creates or updates the workspace's channel of type typ (any case): isActive is
// required; credentials, when given, are validated for the type (400 VALIDATION_ERROR naming
// each field) and replace the stored ones; a non-WEB channel cannot be active without
// credentials. A new channel gets a random webhook slug and a random webhook secret (the
// EMAIL inbound key, the Telegram secret_token). Everything sealed is (re)sealed under the
// current key. Unknown type: 404.
func (s *Service) PutChannel(ctx context.Context, ws, typ string, in ChannelInput) (Channel, error) {
	typ, ok := channelType(typ)
	if !ok {
		return Channel{}, apperr.NotFoundf("Channel type")
	}
	if err := s.needBox(); err != nil {
		return Channel{}, err
	}
	problems := map[string]string{}
	if in.IsActive == nil {
		problems["isActive"] = "is required"
	}
	var credsJSON []byte
	if in.Credentials != nil {
		creds, p := validateCredentials(typ, in.Credentials)
		for k, v := range p {
			problems[k] = v
		}
		if len(p) == 0 && len(creds) > 0 {
			b, err := json.Marshal(creds)
			if err != nil {
				return Channel{}, err
			}
			credsJSON = b
		}
	}
	if len(problems) > 0 {
		return Channel{}, apperr.ValidationFields(problems)
	}
	var out Channel
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.st.channelForUpdate(ctx, tx, ws, typ)
		isNew := errors.Is(err, errNoRows)
		if err != nil && !isNew {
			return err
		}
		row := channelRow{ID: cur.ID, Type: typ, IsActive: *in.IsActive, Slug: cur.Slug, AgentID: cur.AgentID}
		if isNew {
			row.ID = newID()
		}
		if !row.Slug.Valid {
			row.Slug = sql.NullString{String: randomHex(16), Valid: true}
		}
		// The credentials: the new ones, or the stored ones re-sealed under the current key
		// (one key_version covers both ciphertexts of the row: both are sealed under the
		// current key, so the webhook secret's version below is the row's).
		switch {
		case credsJSON != nil:
			if row.CredentialsEnc, _, err = s.box.Seal(credsJSON); err != nil {
				return err
			}
		case len(cur.CredentialsEnc) > 0:
			if row.CredentialsEnc, _, _, err = s.box.Reseal(cur.CredentialsEnc, int(cur.KeyVersion.Int64)); err != nil {
				return fmt.Errorf("channel %s: credentials: %w", cur.ID, err)
			}
		}
		var ver int
		if len(cur.SecretEnc) > 0 {
			if row.SecretEnc, ver, _, err = s.box.Reseal(cur.SecretEnc, int(cur.KeyVersion.Int64)); err != nil {
				return fmt.Errorf("channel %s: webhook secret: %w", cur.ID, err)
			}
		} else if row.SecretEnc, ver, err = s.box.Seal([]byte(randomHex(32))); err != nil {
			return err
		}
		row.KeyVersion = sql.NullInt64{Int64: int64(ver), Valid: true}
		if row.IsActive && typ != ChannelWeb && len(row.CredentialsEnc) == 0 {
			return apperr.ValidationFields(map[string]string{"credentials": "is required to activate a " + typ + " channel"})
		}
		if row.ID, err = s.st.upsertChannel(ctx, tx, ws, row); err != nil {
			return err
		}
		if out, err = s.channelView(row); err != nil {
			return err
		}
		return s.syncTelegramWebhook(ctx, cur, row, out)
	})
	return out, err
}

// LinkChannel makes agentID the agent that answers the workspace's channel of type typ,
// taking the channel from any other agent, with the link active or not. A missing or
// other-workspace agent, or a channel that is not configured: 404.
func (s *Service) LinkChannel(ctx context.Context, ws, agentID, typ string, active bool) (Channel, error) {
	typ, ok := channelType(typ)
	if !ok {
		return Channel{}, apperr.NotFoundf("Channel type")
	}
	if _, err := s.agents.Get(ctx, ws, agentID); err != nil {
		return Channel{}, err
	}
	var out Channel
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		row, err := s.st.channelForUpdate(ctx, tx, ws, typ)
		if errors.Is(err, errNoRows) {
			return apperr.NotFoundf("Channel")
		}
		if err != nil {
			return err
		}
		if err := s.st.linkChannel(ctx, tx, agentID, row.ID, active); err != nil {
			return pg.MapError(err)
		}
		row.AgentID = sql.NullString{String: agentID, Valid: true}
		out, err = s.channelView(row)
		return err
	})
	return out, err
}

// UnlinkChannel removes agentID's link to the workspace's channel of type typ. 404 when the
// agent is not in the workspace or does not answer that channel.
func (s *Service) UnlinkChannel(ctx context.Context, ws, agentID, typ string) error {
	typ, ok := channelType(typ)
	if !ok {
		return apperr.NotFoundf("Channel type")
	}
	if _, err := s.agents.Get(ctx, ws, agentID); err != nil {
		return err
	}
	done, err := s.st.unlinkChannel(ctx, s.db, ws, typ, agentID)
	if err != nil {
		return err
	}
	if !done {
		return apperr.NotFoundf("Channel link")
	}
	return nil
}

// Rotation is what RotateKeys changed.
type Rotation struct {
	Channels     int // rows of channels re-sealed
	Integrations int // rows of integrations re-sealed
	Failed       int // rows that could not be opened with the current or old key
}

// RotateKeys re-seals, under box's current key, every channel (credentials and webhook
// secret) and integration row sealed under another key, in transactions of batch rows.
// It is resumable: a row already under the current key is never selected, so a re-run
// (or a run after an interruption) changes only what is left. A row that neither key opens
// is counted in Failed and skipped; the error then says how many.
func RotateKeys(ctx context.Context, db *pg.DB, box *secretbox.Box, batch int) (Rotation, error) {
	if batch <= 0 {
		batch = 100
	}
	var r Rotation
	for _, t := range []rotationTable{rotateChannels, rotateIntegrations} {
		changed, failed, err := rotateTable(ctx, db, box, t, batch)
		r.Failed += failed
		if t == rotateChannels {
			r.Channels = changed
		} else {
			r.Integrations = changed
		}
		if err != nil {
			return r, fmt.Errorf("rotate %s: %w", t.name, err)
		}
	}
	if r.Failed > 0 {
		return r, fmt.Errorf("%d rows could not be decrypted with CHANNEL_ENCRYPTION_KEY or CHANNEL_ENCRYPTION_KEY_OLD and were left as they are", r.Failed)
	}
	return r, nil
}

func rotateTable(ctx context.Context, db *pg.DB, box *secretbox.Box, t rotationTable, batch int) (changed, failed int, err error) {
	st := store{}
	after := "00000000-0000-0000-0000-000000000000"
	for {
		var n int
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			rows, err := st.rowsToRotate(ctx, tx, t, box.CurrentVersion(), after, batch)
			if err != nil {
				return err
			}
			n = len(rows)
			for _, r := range rows {
				after = r.ID
				creds, secret, ver, err := resealBoth(box, r)
				if err != nil {
					failed++
					continue
				}
				ok, err := st.resealRow(ctx, tx, t, r.ID, r.KeyVersion, creds, secret, ver)
				if err != nil {
					return err
				}
				if ok {
					changed++
				}
			}
			return nil
		})
		if err != nil {
			return changed, failed, err
		}
		if n < batch {
			return changed, failed, nil
		}
	}
}

// resealBoth re-seals a row's ciphertexts (either may be absent) under the current key.
func resealBoth(box *secretbox.Box, r sealedRow) (creds, secret []byte, ver int, err error) {
	ver = box.CurrentVersion()
	if len(r.CredentialsEnc) > 0 {
		if creds, ver, _, err = box.Reseal(r.CredentialsEnc, r.KeyVersion); err != nil {
			return nil, nil, 0, err
		}
	}
	if len(r.SecretEnc) > 0 {
		if secret, ver, _, err = box.Reseal(r.SecretEnc, r.KeyVersion); err != nil {
			return nil, nil, 0, err
		}
	}
	return creds, secret, ver, nil
}

// platformCallTimeout bounds a platform call made while the caller waits (setWebhook, a
// test message).
const platformCallTimeout = 15 * time.Second

// platformErr maps a platform's refusal to the contract: 400 when the platform refused for
// good (bad credentials, a bad recipient), 503 when it may work later. The message names
// the platform's error; it never holds a credential (outbound scrubs them).
func platformErr(typ, what string, err error) error {
	if outbound.IsPermanent(err) {
		return apperr.Wrap(apperr.Validation, fmt.Sprintf("%s refused %s: %s", typ, what, err.Error()), err)
	}
	return apperr.Wrap(apperr.ServiceUnavailable, fmt.Sprintf("%s is unavailable for %s: %s", typ, what, err.Error()), err)
}

// syncTelegramWebhook points the bot at the channel's webhook URL with its secret when the
// channel is active (setWebhook, message updates only), and removes the webhook when it
// was active and no longer is (deleteWebhook). Called inside PutChannel's transaction: a
// refusal leaves the channel as it was.
func (s *Service) syncTelegramWebhook(ctx context.Context, was, now channelRow, view Channel) error {
	if now.Type != "TELEGRAM" || s.outbound == nil || (!now.IsActive && !was.IsActive) {
		return nil
	}
	creds := map[string]string{}
	if len(now.CredentialsEnc) > 0 {
		b, err := s.box.Open(now.CredentialsEnc, int(now.KeyVersion.Int64))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &creds); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, platformCallTimeout)
	defer cancel()
	if !now.IsActive {
		if err := s.outbound.TelegramDeleteWebhook(ctx, creds["botToken"]); err != nil {
			return platformErr(now.Type, "deleteWebhook", err)
		}
		return nil
	}
	secret, err := s.box.Open(now.SecretEnc, int(now.KeyVersion.Int64))
	if err != nil {
		return err
	}
	if err := s.outbound.TelegramSetWebhook(ctx, creds["botToken"], *view.WebhookURL, string(secret), false); err != nil {
		return platformErr(now.Type, "setWebhook", err)
	}
	return nil
}

// TestResult is what a test message did.
type TestResult struct {
	Delivered bool `json:"delivered"`
	Parts     int  `json:"parts"`
}

// textTest is the default test message.
const textTest = "This is a test message from Axon: your channel is connected."

// TestChannel sends a test message on the workspace's channel of type typ to the address to
// (a phone number, chat id, Slack channel, PSID or e-mail address). NOT_FOUND for an
// unknown type or a channel that is not configured; 400 for WEB and VOICE (nothing to send
// to), a missing address or a platform's refusal; 503 when the platform is unavailable or
// EMAIL replies are not configured.
func (s *Service) TestChannel(ctx context.Context, ws, typ, to, text string) (TestResult, error) {
	typ, ok := channelType(typ)
	if !ok {
		return TestResult{}, apperr.NotFoundf("Channel type")
	}
	to = strings.TrimSpace(to)
	if text = strings.TrimSpace(text); text == "" {
		text = textTest
	}
	p := web.Problems{}
	p.Check(typ != ChannelWeb && typ != "VOICE", "type", "has no test message: open the widget or call the number")
	p.Check(to != "" && len(to) <= 320, "to", "is required (at most 320 characters)")
	p.Check(utf8.RuneCountInString(text) <= MaxContent, "text", fmt.Sprintf("must be at most %d characters", MaxContent))
	if err := p.Err(); err != nil {
		return TestResult{}, err
	}
	if err := s.needBox(); err != nil {
		return TestResult{}, err
	}
	r, err := s.st.workspaceChannel(ctx, s.db, ws, typ)
	if errors.Is(err, errNoRows) || (err == nil && len(r.CredentialsEnc) == 0) {
		return TestResult{}, apperr.NotFoundf("Channel")
	}
	if err != nil {
		return TestResult{}, err
	}
	var sender outbound.Sender
	if s.outbound != nil {
		sender, ok = s.outbound.For(typ)
	}
	if sender == nil || !ok {
		return TestResult{}, apperr.E(apperr.ServiceUnavailable, "Outbound delivery on "+typ+" is not configured")
	}
	ch, err := s.openChannel(r)
	if err != nil {
		return TestResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, platformCallTimeout)
	defer cancel()
	n, err := sender.Send(ctx, outbound.Delivery{Creds: ch.Creds, To: to, Text: text, Subject: "Test", IdempotencyKey: "axon-test/" + newID()})
	if err != nil {
		return TestResult{}, platformErr(typ, "the test message", err)
	}
	return TestResult{Delivered: true, Parts: n}, nil
}
