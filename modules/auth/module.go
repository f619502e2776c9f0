// Package auth owns users, workspaces, memberships, invitations and refresh tokens: sign-up,
// log-in, token refresh with rotation by family (reusing a rotated token revokes the whole
// family, which includes the sessions switch-workspace opened from it), workspace switching,
// e-mail verification and password reset (single-use tokens stored as hashes), the workspace
// itself and its members (with the last-owner rule). Owner actions re-read the caller's
// membership in their transaction, so a demotion or removal takes effect at once.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
)

// SignupGrant grants a new workspace its starting credits inside the registration
// transaction (billing implements it).
type SignupGrant func(ctx context.Context, tx *sqlx.Tx, workspaceID string) error

// Deps are what the module needs.
type Deps struct {
	DB          *pg.DB
	Queue       queue.Inserter // auth.send_password_reset
	Issuer      *authn.Issuer
	Limiter     cache.Limiter
	Mailer      mail.Mailer
	SignupGrant SignupGrant
	Log         *slog.Logger

	BcryptCost   int
	RefreshTTL   time.Duration
	SecureCookie bool   // outside development
	AppURL       string // dashboard base URL for invitation, verification and reset links
}

// Module is the auth module.
type Module struct {
	svc     *Service
	issuer  *authn.Issuer
	limiter cache.Limiter
	secure  bool
}

// New builds the module.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Queue == nil || d.Issuer == nil || d.Mailer == nil || d.Limiter == nil {
		return nil, errors.New("auth: DB, Queue, Issuer, Mailer and Limiter are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	svc, err := newService(d)
	if err != nil {
		return nil, err
	}
	return &Module{svc: svc, issuer: d.Issuer, limiter: d.Limiter, secure: d.SecureCookie}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "auth" }

// Workers registers auth.send_password_reset.
func (m *Module) Workers(w *river.Workers) error {
	return river.AddWorkerSafely(w, &sendPasswordResetWorker{svc: m.svc})
}
