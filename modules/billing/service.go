package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
)

// Service is billing's business logic: dashboard reads, Stripe Checkout/portal/invoices,
// webhook intake, event processing and the monthly grant.
type Service struct {
	db      *pg.DB
	store   store
	credits *ledger
	queue   queue.Inserter
	mailer  mail.Mailer
	roles   Roles
	owners  Addresses
	log     *slog.Logger
	cfg     StripeConfig
	stripe  *client.API // nil when STRIPE_SECRET_KEY is empty
	now     func() time.Time
}

func newService(d Deps, l *ledger) (*Service, error) {
	s := &Service{db: d.DB, credits: l, queue: d.Queue, mailer: d.Mailer, roles: d.Roles, owners: d.Addresses, log: d.Log, cfg: d.Stripe, now: time.Now}
	if d.Stripe.SecretKey != "" {
		if d.Stripe.WebhookSecret == "" {
			return nil, errors.New("billing: STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY")
		}
		if d.Stripe.FrontendURL == "" {
			return nil, errors.New("billing: a frontend URL is required for Checkout redirects")
		}
		s.cfg.FrontendURL = strings.TrimRight(d.Stripe.FrontendURL, "/")
		s.stripe = newStripeClient(d.Stripe, d.Log)
	}
	return s, nil
}

// ErrNotConfigured is the answer of every Stripe route when Stripe is not set up.
var ErrNotConfigured = apperr.E(apperr.BillingNotConfigured, "Billing is not configured on this server")

// Configured reports whether the Stripe routes can work.
func (s *Service) Configured() bool { return s.stripe != nil }

// Catalogue is the plans and top-up packs.
type Catalogue struct {
	Plans []plans.Plan `json:"plans"`
	Packs []plans.Pack `json:"packs"`
}

// Catalogue returns the plans and packs.
func (s *Service) Catalogue() Catalogue { return Catalogue{Plans: plans.All(), Packs: plans.Packs()} }

// Consumption is the credits spent per kind in a period.
type Consumption struct {
	Messages, Voice, Tagging, Total int
}

// CreditsSummary is a workspace's balance and this UTC month's consumption.
type CreditsSummary struct {
	Balance      int
	Plan         string
	MonthlyGrant int
	Consumed     Consumption
	PeriodStart  time.Time
}

// CreditsSummary reads the balance, plan and this month's consumption.
func (s *Service) CreditsSummary(ctx context.Context, workspaceID string) (CreditsSummary, error) {
	w, err := s.workspace(ctx, workspaceID)
	if err != nil {
		return CreditsSummary{}, err
	}
	start := monthStart(s.now())
	c, err := s.store.consumedSince(ctx, s.db, workspaceID, start)
	if err != nil {
		return CreditsSummary{}, err
	}
	return CreditsSummary{
		Balance: w.CreditBalance, Plan: w.Plan, MonthlyGrant: plans.MustGet(w.Plan).MonthlyCredits,
		Consumed:    Consumption{Messages: c.Messages, Voice: c.Voice, Tagging: c.Tagging, Total: c.Messages + c.Voice + c.Tagging},
		PeriodStart: start,
	}, nil
}

// Ledger returns the workspace's ledger rows newest first after req.After, req.Fetch() of
// them at most (page.Cut keeps req.Limit and makes the next cursor).
func (s *Service) Ledger(ctx context.Context, workspaceID string, req page.Request) ([]LedgerEntry, error) {
	return s.store.ledgerPage(ctx, s.db, workspaceID, req)
}

// Checkout opens a Stripe Checkout session (mode subscription) for a self-serve plan and
// returns its URL. The workspace's Stripe customer is created on first use and stored.
// A workspace that already has a subscription changes plans in the portal (409).
func (s *Service) Checkout(ctx context.Context, workspaceID, userID, planID string) (string, error) {
	if s.stripe == nil {
		return "", ErrNotConfigured
	}
	plan, ok := plans.Get(planID)
	if !ok || !plan.SelfServe {
		return "", apperr.ValidationFields(map[string]string{"plan": "must be one of " + strings.Join(selfServePlans(), ", ")})
	}
	w, err := s.ownerWorkspace(ctx, workspaceID, userID)
	if err != nil {
		return "", err
	}
	if w.SubscriptionID != nil && *w.SubscriptionID != "" {
		return "", apperr.E(apperr.Conflict, "The workspace already has a subscription; change plans in the billing portal")
	}
	customer, err := s.ensureCustomer(ctx, w, userID)
	if err != nil {
		return "", err
	}
	meta := map[string]string{"workspaceId": w.ID, "plan": plan.ID}
	item := &stripe.CheckoutSessionLineItemParams{Quantity: stripe.Int64(1)}
	if price := s.priceForPlan(plan.ID); price != "" {
		item.Price = stripe.String(price)
	} else {
		item.PriceData = &stripe.CheckoutSessionLineItemPriceDataParams{
			Currency:    stripe.String(string(stripe.CurrencyUSD)),
			UnitAmount:  stripe.Int64(int64(plan.PriceCents)),
			Recurring:   &stripe.CheckoutSessionLineItemPriceDataRecurringParams{Interval: stripe.String("month")},
			ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Axon " + plan.Name)},
		}
	}
	params := s.checkoutParams(ctx, stripe.CheckoutSessionModeSubscription, "checkout", w.ID, customer, meta, item)
	params.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{Metadata: meta}
	return s.openCheckout("checkout", params)
}

// checkoutParams are the parts every Checkout session shares: the customer, the workspace
// as client reference and metadata (how webhooks find the workspace), one line item, and
// return URLs on the dashboard's billing page tagged with flow ("checkout" or "topup").
func (s *Service) checkoutParams(ctx context.Context, mode stripe.CheckoutSessionMode, flow, workspaceID, customer string,
	meta map[string]string, item *stripe.CheckoutSessionLineItemParams,
) *stripe.CheckoutSessionParams {
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(mode)),
		Customer:          stripe.String(customer),
		ClientReferenceID: stripe.String(workspaceID),
		Metadata:          meta,
		LineItems:         []*stripe.CheckoutSessionLineItemParams{item},
		SuccessURL:        stripe.String(s.cfg.FrontendURL + "/billing?" + flow + "=success&session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:         stripe.String(s.cfg.FrontendURL + "/billing?" + flow + "=cancel"),
	}
	params.Context = ctx
	return params
}

// openCheckout creates the session and returns its URL.
func (s *Service) openCheckout(flow string, params *stripe.CheckoutSessionParams) (string, error) {
	cs, err := s.stripe.CheckoutSessions.New(params)
	if err != nil {
		return "", stripeError(flow, err)
	}
	return cs.URL, nil
}

// Topup opens a Stripe Checkout session (mode payment) for a credit pack and returns its URL.
func (s *Service) Topup(ctx context.Context, workspaceID, userID, packID string) (string, error) {
	if s.stripe == nil {
		return "", ErrNotConfigured
	}
	pack, ok := plans.GetPack(packID)
	if !ok {
		return "", apperr.ValidationFields(map[string]string{"pack": "must be one of " + strings.Join(packIDs(), ", ")})
	}
	w, err := s.ownerWorkspace(ctx, workspaceID, userID)
	if err != nil {
		return "", err
	}
	customer, err := s.ensureCustomer(ctx, w, userID)
	if err != nil {
		return "", err
	}
	meta := map[string]string{"workspaceId": w.ID, "pack": pack.ID}
	item := &stripe.CheckoutSessionLineItemParams{Quantity: stripe.Int64(1)}
	if price := s.cfg.PriceTopup[pack.ID]; price != "" {
		item.Price = stripe.String(price)
	} else {
		item.PriceData = &stripe.CheckoutSessionLineItemPriceDataParams{
			Currency:   stripe.String(string(stripe.CurrencyUSD)),
			UnitAmount: stripe.Int64(int64(pack.PriceCents)),
			ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{
				Name: stripe.String(fmt.Sprintf("Axon credits: %d", pack.Credits)),
			},
		}
	}
	params := s.checkoutParams(ctx, stripe.CheckoutSessionModePayment, "topup", w.ID, customer, meta, item)
	params.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: meta}
	return s.openCheckout("topup", params)
}

// Portal opens a Stripe customer-portal session and returns its URL.
func (s *Service) Portal(ctx context.Context, workspaceID, userID string) (string, error) {
	if s.stripe == nil {
		return "", ErrNotConfigured
	}
	w, err := s.ownerWorkspace(ctx, workspaceID, userID)
	if err != nil {
		return "", err
	}
	customer, err := s.ensureCustomer(ctx, w, userID)
	if err != nil {
		return "", err
	}
	params := &stripe.BillingPortalSessionParams{
		Customer:  stripe.String(customer),
		ReturnURL: stripe.String(s.cfg.FrontendURL + "/billing"),
	}
	params.Context = ctx
	ps, err := s.stripe.BillingPortalSessions.New(params)
	if err != nil {
		return "", stripeError("portal", err)
	}
	return ps.URL, nil
}

// Invoice is one Stripe invoice of the workspace's customer.
type Invoice struct {
	ID, Number, Status, Currency string
	AmountDue, AmountPaid        int64
	Created                      time.Time
	HostedInvoiceURL, InvoicePDF string
}

// Invoices lists the customer's invoices newest first (Stripe's order), limit at a time
// after the invoice id startingAfter. A workspace without a customer has none.
func (s *Service) Invoices(ctx context.Context, workspaceID string, limit int, startingAfter string) (items []Invoice, next string, err error) {
	if s.stripe == nil {
		return nil, "", ErrNotConfigured
	}
	w, err := s.workspace(ctx, workspaceID)
	if err != nil {
		return nil, "", err
	}
	if w.CustomerID == nil {
		return nil, "", nil
	}
	params := &stripe.InvoiceListParams{Customer: w.CustomerID}
	params.Context = ctx
	params.Limit = stripe.Int64(int64(limit))
	params.Single = true
	if startingAfter != "" {
		params.StartingAfter = stripe.String(startingAfter)
	}
	it := s.stripe.Invoices.List(params)
	for it.Next() {
		inv := it.Invoice()
		items = append(items, Invoice{
			ID: inv.ID, Number: inv.Number, Status: string(inv.Status), Currency: string(inv.Currency),
			AmountDue: inv.AmountDue, AmountPaid: inv.AmountPaid, Created: time.Unix(inv.Created, 0).UTC(),
			HostedInvoiceURL: inv.HostedInvoiceURL, InvoicePDF: inv.InvoicePDF,
		})
	}
	if err := it.Err(); err != nil {
		return nil, "", stripeError("invoices", err)
	}
	if l := it.InvoiceList(); l != nil && l.HasMore && len(items) > 0 {
		next = items[len(items)-1].ID
	}
	return items, next, nil
}

// ensureCustomer returns the workspace's Stripe customer, creating and storing it on first
// use with the calling owner's e-mail address. Stripe's idempotency key makes concurrent
// first uses create one customer, and the conditional UPDATE keeps the first stored id.
func (s *Service) ensureCustomer(ctx context.Context, w workspaceRow, userID string) (string, error) {
	if w.CustomerID != nil && *w.CustomerID != "" {
		return *w.CustomerID, nil
	}
	emailAddr, err := s.owners.UserEmail(ctx, s.db, userID)
	if err != nil {
		return "", err
	}
	params := &stripe.CustomerParams{
		Name:     stripe.String(w.Name),
		Metadata: map[string]string{"workspaceId": w.ID},
	}
	if emailAddr != "" {
		params.Email = stripe.String(emailAddr)
	}
	params.Context = ctx
	params.SetIdempotencyKey("axon-customer-" + w.ID)
	c, err := s.stripe.Customers.New(params)
	if err != nil {
		return "", stripeError("customer", err)
	}
	stored, err := s.store.setCustomer(ctx, s.db, w.ID, c.ID)
	if err != nil {
		return "", err
	}
	if !stored {
		cur, err := s.workspace(ctx, w.ID)
		if err != nil {
			return "", err
		}
		if cur.CustomerID != nil {
			return *cur.CustomerID, nil
		}
	}
	return c.ID, nil
}

// ownerWorkspace re-reads the caller's membership (OWNER, locked FOR SHARE) and the
// workspace in one transaction: the owner routes' check is the database's, not the access
// token's. The Stripe call that follows runs after the commit, outside any transaction.
func (s *Service) ownerWorkspace(ctx context.Context, workspaceID, userID string) (workspaceRow, error) {
	var w workspaceRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.roles.RequireRoleTx(ctx, tx, workspaceID, userID, authn.RoleOwner); err != nil {
			return err
		}
		var err error
		w, err = s.store.workspace(ctx, tx, workspaceID)
		return err
	})
	return w, err
}

func (s *Service) workspace(ctx context.Context, id string) (workspaceRow, error) {
	return s.store.workspace(ctx, s.db, id)
}

// priceForPlan is the configured recurring price id of a plan, or "".
func (s *Service) priceForPlan(plan string) string {
	switch plan {
	case plans.Builder:
		return s.cfg.PriceBuilder
	case plans.Pro:
		return s.cfg.PricePro
	}
	return ""
}

// planForPrice maps a configured price id back to its plan, or "".
func (s *Service) planForPrice(price string) string {
	switch price {
	case "":
		return ""
	case s.cfg.PriceBuilder:
		return plans.Builder
	case s.cfg.PricePro:
		return plans.Pro
	}
	return ""
}

func selfServePlans() []string {
	var out []string
	for _, p := range plans.All() {
		if p.SelfServe {
			out = append(out, p.ID)
		}
	}
	return out
}

func packIDs() []string {
	var out []string
	for _, p := range plans.Packs() {
		out = append(out, p.ID)
	}
	return out
}

// grantBatch is how many workspaces one monthly-grant transaction covers.
const grantBatch = 200

// GrantMonthly grants every workspace except ENTERPRISE its plan's monthly credits for month
// ("2006-01"), with the idempotency key "grant:<workspaceId>:<month>": running it twice in a
// month (a retry, a second worker) adds the credits once. Each batch is one transaction, so a
// failure part-way keeps the committed batches and the retry skips them. Workspaces created
// during month already received it as their signup grant and are skipped. It returns how
// many workspaces received credits in this run.
func (s *Service) GrantMonthly(ctx context.Context, month string) (granted int, err error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return 0, fmt.Errorf("billing: month %q is not YYYY-MM", month)
	}
	after := "00000000-0000-0000-0000-000000000000"
	for {
		batch, err := s.store.grantBatch(ctx, s.db, after, grantBatch, start)
		if err != nil {
			return granted, err
		}
		if len(batch) == 0 {
			return granted, nil
		}
		n := 0
		err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
			n = 0
			for _, w := range batch {
				credits := plans.MustGet(w.Plan).MonthlyCredits
				if credits <= 0 {
					continue
				}
				_, applied, err := s.credits.applyTx(ctx, tx, change{
					workspaceID: w.ID, delta: credits, reason: ReasonPlanGrant,
					refID: month, key: "grant:" + w.ID + ":" + month,
				})
				if err != nil {
					return err
				}
				if applied {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return granted, err
		}
		granted += n
		after = batch[len(batch)-1].ID
	}
}
