// Package billing owns the credits of a workspace and its Stripe subscription: the plan
// catalogue (subpackage plans), the credit ledger behind the Credits contract (subpackage
// credit; every change to workspaces.credit_balance is written in the same transaction as
// its credit_ledger row, so the balance always equals the sum of the ledger), Stripe
// Checkout, the customer portal and invoices, the verified Stripe webhook whose events are
// processed exactly once by the billing.process_stripe_event job, the monthly grant
// (billing.monthly_grant) and the low-credit e-mail.
package billing

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/configs"
	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
	"github.com/axonhq/axon/platform/realtime"
)

// StripeConfig is the Stripe part of the configuration. An empty SecretKey disables the
// Stripe routes (501 BILLING_NOT_CONFIGURED); credits keep working.
type StripeConfig struct {
	SecretKey     string
	WebhookSecret string
	// APIBase replaces https://api.stripe.com (stripe-mock, test fakes).
	APIBase string
	// PriceBuilder and PricePro are the recurring price ids of the plans. When empty,
	// Checkout is given the catalogue price inline (price_data).
	PriceBuilder, PricePro string
	// PriceTopup maps a pack id ("2k", "10k", "50k") to its one-off price id; missing packs
	// are priced inline from the catalogue.
	PriceTopup map[string]string
	// FrontendURL is the dashboard base URL for Checkout's success/cancel and the portal's
	// return URL.
	FrontendURL string
	// HTTPClient is optional (default: 30 s timeout).
	HTTPClient *http.Client
}

// StripeFromConfig builds the StripeConfig from the application configuration; the
// dashboard URL is the first FRONTEND_URL, else API_BASE_URL.
func StripeFromConfig(c *configs.Config) StripeConfig {
	front := c.APIBaseURL
	if len(c.FrontendURL) > 0 {
		front = c.FrontendURL[0]
	}
	return StripeConfig{
		SecretKey: c.StripeSecretKey, WebhookSecret: c.StripeWebhookSecret, APIBase: c.StripeAPIBase,
		PriceBuilder: c.StripePriceBuilder, PricePro: c.StripePricePro,
		PriceTopup: map[string]string{
			"2k": c.StripePriceTopup2K, "10k": c.StripePriceTopup10K, "50k": c.StripePriceTopup50K,
		},
		FrontendURL: front,
	}
}

// Roles re-reads a member's role inside the caller's transaction (the auth module implements
// it): the OWNER routes ask it, so a demoted or removed owner's still-valid access token gets
// 403 FORBIDDEN at once. It returns an apperr FORBIDDEN for a missing or lower role.
type Roles interface {
	RequireRoleTx(ctx context.Context, tx *sqlx.Tx, workspaceID, userID string, min authn.Role) error
}

// Addresses gives the e-mail addresses billing writes to (auth.Directory implements it), read
// through q, the pool or the caller's transaction; billing never reads auth's tables.
type Addresses interface {
	// OwnerAddresses lists the workspace's OWNERs' addresses, oldest membership first: the
	// recipients of the low-credit, invoice-ready and payment-failed e-mails.
	OwnerAddresses(ctx context.Context, q sqlx.QueryerContext, workspaceID string) ([]string, error)
	// UserEmail is a user's address ("" when unknown): the e-mail of the Stripe customer
	// created when that owner first opens Checkout or the portal.
	UserEmail(ctx context.Context, q sqlx.QueryerContext, userID string) (string, error)
}

// Deps are what the module needs.
type Deps struct {
	DB    *pg.DB
	Queue queue.Inserter
	// Publisher is not used any more: the ledger's statement publishes credits_updated
	// itself (realtime.EventCTE). Optional; kept so that the modules' wiring has one shape.
	Publisher realtime.Publisher
	Mailer    mail.Mailer
	Roles     Roles
	Addresses Addresses
	Log       *slog.Logger
	// Authed is the dashboard middleware chain (kernel.Deps.Authed).
	Authed []echo.MiddlewareFunc
	Stripe StripeConfig
}

// Module is the billing module.
type Module struct {
	credits *ledger
	svc     *Service
	authed  []echo.MiddlewareFunc
}

// New builds the module.
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Queue == nil || d.Mailer == nil || d.Roles == nil || d.Addresses == nil {
		return nil, errors.New("billing: DB, Queue, Mailer, Roles and Addresses are required")
	}
	if len(d.Authed) == 0 {
		return nil, errors.New("billing: the Authed middleware chain is required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	l := &ledger{db: d.DB, mailer: d.Mailer, owners: d.Addresses}
	svc, err := newService(d, l)
	if err != nil {
		return nil, err
	}
	return &Module{credits: l, svc: svc, authed: d.Authed}, nil
}

// Name implements kernel.Module.
func (m *Module) Name() string { return "billing" }

// Workers registers billing.process_stripe_event and billing.monthly_grant.
func (m *Module) Workers(w *river.Workers) error {
	if err := river.AddWorkerSafely(w, &stripeEventWorker{svc: m.svc}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &monthlyGrantWorker{svc: m.svc})
}

// PeriodicJobs implements kernel.Scheduler: billing.monthly_grant at 00:05 UTC on the 1st.
func (m *Module) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{monthlyGrantPeriodicJob()}
}

// Credits returns the contract other modules use.
func (m *Module) Credits() Credits { return m.credits }

// SignupGrant grants a new workspace the STARTER credits inside the registration
// transaction (auth.Deps.SignupGrant). It is idempotent per workspace.
func (m *Module) SignupGrant(ctx context.Context, tx *sqlx.Tx, workspaceID string) error {
	_, err := m.credits.Grant(ctx, tx, Grant{
		WorkspaceID: workspaceID, Amount: plans.StarterCredits, Reason: ReasonPlanGrant,
		RefID: "signup", IdempotencyKey: "signup:" + workspaceID,
	})
	return err
}
