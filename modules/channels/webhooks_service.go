package channels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/channels/inbound"
	"github.com/axonhq/axon/platform/apperr"
)

// The webhook side of the channels: find the channel a webhook URL names, store its verified
// messages and enqueue their processing in one transaction (the webhook then answers,
// before any AI work), and process one stored message through the pipeline (the
// channels.process_inbound job).

// WebhookChannel is an active channel with an active agent, as a webhook needs it: its
// opened credentials and webhook secret (the Telegram secret_token, the EMAIL inbound key).
type WebhookChannel struct {
	ID, WorkspaceID, Type, AgentID string
	Creds                          map[string]string
	Secret                         string
	// version is the channel row's updated_at when it was read: AcceptInbound stores
	// messages only while the row is unchanged (and active, with the same active agent link).
	version time.Time
	// cached: taken from the per-replica cache (webhookChannels), not read for this request.
	cached bool
}

// isSlug reports whether s has the shape PutChannel gives slugs (16 random bytes in
// lowercase hex): anything else is refused without a query.
func isSlug(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// errNoChannel is the answer for an unknown slug, an inactive channel or one no active agent
// answers: the platform retries later (Meta keeps retrying for days), nothing is stored.
var errNoChannel = apperr.NotFoundf("Channel")

// errChannelChanged: AcceptInbound found the channel deactivated, unlinked or changed since
// the webhook read it; nothing was stored. The webhook reads the channel again
// (webhooks_http.go, receive).
var errChannelChanged = errors.New("channels: the channel changed since the webhook read it")

// errChannelChanging is the answer when the channel changed again between a fresh read and
// the insert (two writes within milliseconds): 503, and the platform redelivers.
var errChannelChanging = apperr.E(apperr.ServiceUnavailable, "The channel is being changed; retry")

// WebhookChannel returns the channel of type typ that slug names, with its secrets opened.
// NOT_FOUND when there is none, it is inactive, or no active agent is linked to it.
func (s *Service) WebhookChannel(ctx context.Context, slug, typ string) (WebhookChannel, error) {
	if !isSlug(slug) || s.box == nil {
		return WebhookChannel{}, errNoChannel
	}
	r, err := s.st.webhookChannel(ctx, s.db, slug, typ)
	if errors.Is(err, errNoRows) {
		return WebhookChannel{}, errNoChannel
	}
	if err != nil {
		return WebhookChannel{}, err
	}
	if !r.IsActive || !r.AgentID.Valid || !r.LinkActive {
		return WebhookChannel{}, errNoChannel
	}
	return s.openChannel(r)
}

// openChannel opens a channel's sealed credentials and webhook secret.
func (s *Service) openChannel(r liveChannel) (WebhookChannel, error) {
	ch := WebhookChannel{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Type: r.Type, AgentID: r.AgentID.String, Creds: map[string]string{},
		version: r.UpdatedAt,
	}
	ver := int(r.KeyVersion.Int64)
	if len(r.CredentialsEnc) > 0 {
		b, err := s.box.Open(r.CredentialsEnc, ver)
		if err != nil {
			return ch, fmt.Errorf("channel %s: credentials: %w", r.ID, err)
		}
		if err := json.Unmarshal(b, &ch.Creds); err != nil {
			return ch, fmt.Errorf("channel %s: credentials: %w", r.ID, err)
		}
	}
	if len(r.SecretEnc) > 0 {
		b, err := s.box.Open(r.SecretEnc, ver)
		if err != nil {
			return ch, fmt.Errorf("channel %s: webhook secret: %w", r.ID, err)
		}
		ch.Secret = string(b)
	}
	return ch, nil
}

// webhookChannels is the per-replica cache of the channels that message webhooks name, so
// that a busy channel's webhooks skip the lookup's round trip and the decryption of its
// secrets. It is safe because what a cached channel may do is bounded (docs/decisions.md,
// "Webhook intake: the channel cache"): messages are stored only by AcceptInbound, whose
// insert re-checks the channel in the same statement (deactivation, unlinking and credential
// changes take effect at once); a signature the cached secret refuses is checked again
// against a fresh read; only answers that store nothing (non-message payloads, Slack's
// url_verification) can come from a channel up to ttl old.
type webhookChannels struct {
	svc *Service
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]cachedChannel
}

type cachedChannel struct {
	ch WebhookChannel
	at time.Time
}

// Cache bounds: an entry lives channelCacheTTL; at most channelCacheMax entries (past it the
// cache starts over).
const (
	channelCacheTTL = 2 * time.Second
	channelCacheMax = 10_000
)

func newWebhookChannels(svc *Service) *webhookChannels {
	return &webhookChannels{svc: svc, ttl: channelCacheTTL, now: time.Now, m: map[string]cachedChannel{}}
}

// channel returns the channel of type typ that slug names: from the cache when it holds a
// live entry (cached is then true), else read and opened by WebhookChannel and cached.
// Refusals (NOT_FOUND) are not cached.
func (w *webhookChannels) channel(ctx context.Context, slug, typ string) (WebhookChannel, error) {
	key := typ + "/" + slug
	now := w.now()
	w.mu.Lock()
	e, ok := w.m[key]
	w.mu.Unlock()
	if ok && now.Sub(e.at) < w.ttl {
		ch := e.ch
		ch.cached = true
		return ch, nil
	}
	ch, err := w.svc.WebhookChannel(ctx, slug, typ)
	if err != nil {
		w.forget(slug, typ)
		return ch, err
	}
	w.mu.Lock()
	if len(w.m) >= channelCacheMax {
		clear(w.m)
	}
	w.m[key] = cachedChannel{ch: ch, at: now}
	w.mu.Unlock()
	return ch, nil
}

// fresh reads the channel again (after a cached one was refused) and caches the new read.
func (w *webhookChannels) fresh(ctx context.Context, slug, typ string) (WebhookChannel, error) {
	w.forget(slug, typ)
	return w.channel(ctx, slug, typ)
}

func (w *webhookChannels) forget(slug, typ string) {
	w.mu.Lock()
	delete(w.m, typ+"/"+slug)
	w.mu.Unlock()
}

// AcceptInbound stores the verified messages of one webhook delivery and enqueues one
// channels.process_inbound job per new message, all in one transaction. A message the
// channel delivered before is skipped (its id is the dedupe key). It returns how many were
// new. Each insert checks, in its own statement, that the channel is still active, unchanged
// since ch was read and answered by ch's agent through an active link; when it is not,
// nothing is stored and the error is errChannelChanged.
func (s *Service) AcceptInbound(ctx context.Context, ch WebhookChannel, msgs []inbound.Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	var accepted int
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		jobs := make([]river.InsertManyParams, 0, len(msgs))
		for _, m := range msgs {
			id, err := s.st.insertInboundLive(ctx, tx, newInbound{
				WorkspaceID: ch.WorkspaceID, ChannelID: ch.ID, ExternalID: dedupeKey(m.ID), Sender: m.From,
				SenderName: m.Name, Content: m.Text, Thread: m.Thread, Subject: m.Subject,
			}, ch.version, ch.AgentID)
			if err != nil {
				return err
			}
			if id != "" {
				jobs = append(jobs, river.InsertManyParams{Args: ProcessInboundArgs{WorkspaceID: ch.WorkspaceID, InboundID: id}})
			}
		}
		accepted = len(jobs)
		if len(jobs) == 0 {
			return nil
		}
		_, err := s.queue.InsertManyTx(ctx, tx.Tx, jobs)
		return err
	})
	return accepted, err
}

// dedupeKey is a platform message id as the pipeline keeps it (messages.channel_msg_id is at
// most 255 characters): longer ids are replaced by their SHA-256, which stays unique.
func dedupeKey(id string) string {
	if len(id) <= 255 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ProcessInbound answers one stored inbound message through the pipeline (Respond) and
// marks it processed. It is idempotent: a processed message is skipped, and Respond
// deduplicates the USER message on the channel message id and answers a stored one that
// has no reply yet (a worker that died mid-answer). A message whose channel was since
// deactivated or unlinked is marked processed without an answer.
func (s *Service) ProcessInbound(ctx context.Context, ws, id string) error {
	r, err := s.st.getInbound(ctx, s.db, ws, id)
	if errors.Is(err, errNoRows) {
		return errPermanent{fmt.Errorf("channels: inbound message %s not found", id)}
	}
	if err != nil || r.ProcessedAt != nil {
		return err
	}
	if !r.IsActive || !r.AgentID.Valid || !r.LinkActive {
		s.log.Warn("channels: inbound message not answered: the channel is inactive or no active agent answers it",
			slog.String("inboundId", id), slog.String("channelType", r.ChannelType))
		return s.st.inboundProcessed(ctx, s.db, ws, id)
	}
	_, err = s.Respond(ctx, Inbound{
		WorkspaceID: ws, AgentID: r.AgentID.String, ChannelType: r.ChannelType, CustomerID: r.Sender,
		CustomerName: r.SenderName, ChannelMsgID: r.ExternalID, Content: r.Content,
	}, nil)
	var ae *apperr.Error
	if errors.As(err, &ae) && (ae.Code == apperr.Validation || ae.Code == apperr.NotFound) {
		// The message cannot be answered (its agent is gone, its content is refused):
		// retrying cannot help.
		s.log.Warn("channels: inbound message refused", slog.String("inboundId", id), slog.String("err", err.Error()))
		if err := s.st.inboundProcessed(ctx, s.db, ws, id); err != nil {
			return err
		}
		return errPermanent{err}
	}
	if err != nil {
		return err
	}
	return s.st.inboundProcessed(ctx, s.db, ws, id)
}
