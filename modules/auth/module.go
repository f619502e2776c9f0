// Package auth owns users, workspaces, memberships, invitations and refresh tokens: sign-up,
// log-in, token refresh with rotation by family (reusing a rotated token revokes the whole
// family), workspace switching, the workspace itself and its members (with the last-owner
// rule).
package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/pg"
)

// SignupGrant grants a new workspace its starting credits inside the registration
// transaction (billing implements it).
type SignupGrant func(ctx context.Context, tx *sqlx.Tx, workspaceID string) error

// Deps are what the module needs.
type Deps struct {
	DB          *pg.DB
	Issuer      *authn.Issuer
	Limiter     cache.Limiter
	Mailer      email.Mailer
	SignupGrant SignupGrant
	Log         *slog.Logger

	BcryptCost   int
	RefreshTTL   time.Duration
	SecureCookie bool   // outside development
	AppURL       string // dashboard base URL for invitation links
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
	svc, err := newService(d)
	if err != nil {
		return nil, err
	}
	return &Module{svc: svc, issuer: d.Issuer, limiter: d.Limiter, secure: d.SecureCookie}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "auth" }

// Workers implements kernel.Module; auth has no jobs.
func (m *Module) Workers(*river.Workers) error { return nil }

// NotifyAddresses returns the e-mail addresses of the workspace's owners and admins (the
// people told about a handoff), oldest membership first; none for an unknown workspace.
func (m *Module) NotifyAddresses(ctx context.Context, workspaceID string) ([]string, error) {
	out := []string{}
	if err := m.svc.db.SelectContext(ctx, &out, qNotifyAddresses, workspaceID); err != nil {
		return nil, err
	}
	return out, nil
}
