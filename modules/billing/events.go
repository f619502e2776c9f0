package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
)

// SignatureTolerance is how old a Stripe-Signature timestamp may be.
const SignatureTolerance = 300 * time.Second

// The event types billing acts on; any other type is acknowledged and dropped.
const (
	evCheckoutCompleted      = "checkout.session.completed"
	evCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	evSubscriptionCreated    = "customer.subscription.created"
	evSubscriptionUpdated    = "customer.subscription.updated"
	evSubscriptionDeleted    = "customer.subscription.deleted"
	evInvoicePaid            = "invoice.paid"
	evInvoicePaymentFailed   = "invoice.payment_failed"
)

var handledEvents = map[string]bool{
	evCheckoutCompleted: true, evCheckoutAsyncSucceeded: true,
	evSubscriptionCreated: true, evSubscriptionUpdated: true, evSubscriptionDeleted: true,
	evInvoicePaid: true, evInvoicePaymentFailed: true,
}

var errBadSignature = apperr.E(apperr.InvalidSignature, "Stripe signature verification failed")

// WebhookResult says what the intake did with a verified event.
type WebhookResult string

// Webhook outcomes.
const (
	WebhookQueued    WebhookResult = "queued"    // new event: stored and its job enqueued
	WebhookDuplicate WebhookResult = "duplicate" // a redelivery of a stored event: nothing done
	WebhookIgnored   WebhookResult = "ignored"   // a type billing does not act on: nothing stored
)

// ReceiveWebhook verifies a Stripe webhook on its raw body and, for the event types billing
// acts on, stores the event and enqueues billing.process_stripe_event in one transaction (a
// redelivered event id is a no-op). Errors: INVALID_SIGNATURE (401) for a missing, wrong or
// stale signature; VALIDATION_ERROR (400) for an event of another API version, of a
// connected account or of the other live/test mode; nothing is stored on any error.
func (s *Service) ReceiveWebhook(ctx context.Context, payload []byte, sigHeader string) (WebhookResult, error) {
	if s.stripe == nil {
		return "", ErrNotConfigured
	}
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, s.cfg.WebhookSecret,
		webhook.ConstructEventOptions{Tolerance: SignatureTolerance})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
			errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
			return "", errBadSignature
		case ev.APIVersion != "" && ev.APIVersion != stripe.APIVersion:
			// Signed by Stripe but rendered in another API version than stripe-go v76
			// decodes: refuse it loudly (Stripe keeps retrying for 3 days, so pinning the
			// endpoint's version recovers it). See docs/decisions.md.
			s.log.Error("stripe webhook: event rendered in an unsupported API version; pin the endpoint to "+stripe.APIVersion,
				"eventId", ev.ID, "apiVersion", ev.APIVersion)
			return "", apperr.E(apperr.Validation, "Stripe event API version "+ev.APIVersion+" is not supported; the endpoint must use "+stripe.APIVersion)
		default:
			return "", apperr.Wrap(apperr.Validation, "Malformed Stripe event", err)
		}
	}
	if ev.ID == "" || ev.Type == "" {
		return "", apperr.E(apperr.Validation, "Malformed Stripe event")
	}
	if ev.Account != "" {
		s.log.Warn("stripe webhook: event of a connected account refused", "eventId", ev.ID, "account", ev.Account)
		return "", apperr.E(apperr.Validation, "Events of other Stripe accounts are not accepted")
	}
	if live, known := expectedLivemode(s.cfg.SecretKey); known && ev.Livemode != live {
		s.log.Warn("stripe webhook: event of the other mode refused", "eventId", ev.ID, "livemode", ev.Livemode)
		return "", apperr.E(apperr.Validation, "Event livemode does not match this server's Stripe key")
	}
	if !handledEvents[string(ev.Type)] {
		return WebhookIgnored, nil
	}
	result := WebhookDuplicate
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		fresh, err := s.store.insertEvent(ctx, tx, ev.ID, string(ev.Type), payload)
		if err != nil || !fresh {
			return err
		}
		result = WebhookQueued
		_, err = s.queue.InsertTx(ctx, tx.Tx, ProcessStripeEventArgs{EventID: ev.ID}, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	return result, nil
}

// errUnresolved means the event's workspace is not known yet (e.g. a subscription event for
// a customer stored by a checkout that has not been processed); the job retries with backoff.
var errUnresolved = errors.New("billing: the event's workspace cannot be resolved yet")

// ErrPermanent marks a failure that no retry can fix (an event id that is not stored, an
// undecodable payload, metadata naming an unknown plan, pack or workspace); errors.Is matches
// it, and the job layer cancels the job instead of retrying.
var ErrPermanent = errors.New("billing: permanent failure")

// permanent wraps err with ErrPermanent.
func permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrPermanent, fmt.Errorf(format, args...))
}

// ProcessEvent applies one stored Stripe event, exactly once: the event row is locked, its
// effects and processed_at are written in one transaction, and a processed event is skipped.
// It returns an error wrapping ErrPermanent when retrying cannot help.
func (s *Service) ProcessEvent(ctx context.Context, eventID string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		row, found, err := s.store.lockEvent(ctx, tx, eventID)
		if err != nil {
			return err
		}
		if !found {
			return permanent("stripe event %s is not stored", eventID)
		}
		if row.ProcessedAt != nil {
			return nil
		}
		var ev stripe.Event
		if err := json.Unmarshal(row.Payload, &ev); err != nil || ev.Data == nil {
			return permanent("stripe event %s: undecodable payload: %v", eventID, err)
		}
		if err := s.handle(ctx, tx, &ev); err != nil {
			return err
		}
		return s.store.markProcessed(ctx, tx, eventID)
	})
}

func (s *Service) handle(ctx context.Context, tx *sqlx.Tx, ev *stripe.Event) error {
	switch string(ev.Type) {
	case evCheckoutCompleted, evCheckoutAsyncSucceeded:
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return permanent("checkout session: %w", err)
		}
		return s.onCheckout(ctx, tx, ev, &cs)
	case evSubscriptionCreated, evSubscriptionUpdated, evSubscriptionDeleted:
		var sub stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return permanent("subscription: %w", err)
		}
		return s.onSubscription(ctx, tx, ev, &sub)
	case evInvoicePaid, evInvoicePaymentFailed:
		var inv stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return permanent("invoice: %w", err)
		}
		return s.onInvoice(ctx, tx, ev, &inv)
	}
	return nil
}

// onCheckout: subscription mode sets the plan and grants its monthly credits; payment mode
// grants the pack. Credits are granted once per Checkout Session, and only when it is paid
// (an asynchronous payment grants on checkout.session.async_payment_succeeded).
func (s *Service) onCheckout(ctx context.Context, tx *sqlx.Tx, ev *stripe.Event, cs *stripe.CheckoutSession) error {
	customer := customerID(cs.Customer)
	ws, err := s.resolveWorkspace(ctx, tx, []string{cs.Metadata["workspaceId"], cs.ClientReferenceID}, customer)
	if err != nil {
		return err
	}
	if customer != "" {
		if err := s.store.adoptCustomer(ctx, tx, ws, customer); err != nil {
			return err
		}
	}
	paid := cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid ||
		cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusNoPaymentRequired
	key := "stripe:" + cs.ID
	switch cs.Mode {
	case stripe.CheckoutSessionModeSubscription:
		plan, ok := plans.Get(cs.Metadata["plan"])
		if !ok || !plan.SelfServe {
			return permanent("checkout %s: unknown plan %q in metadata", cs.ID, cs.Metadata["plan"])
		}
		subID := ""
		if cs.Subscription != nil {
			subID = cs.Subscription.ID
		}
		if _, err := s.applyPlan(ctx, tx, ws, subID, "active", plan.ID, ev); err != nil {
			return err
		}
		if paid && plan.MonthlyCredits > 0 {
			if _, _, err := s.credits.applyTx(ctx, tx, change{ws, plan.MonthlyCredits, ReasonPlanGrant, cs.ID, key}); err != nil {
				return err
			}
		}
	case stripe.CheckoutSessionModePayment:
		pack, ok := plans.GetPack(cs.Metadata["pack"])
		if !ok {
			return permanent("checkout %s: unknown pack %q in metadata", cs.ID, cs.Metadata["pack"])
		}
		if paid {
			if _, _, err := s.credits.applyTx(ctx, tx, change{ws, pack.Credits, ReasonTopupPurchase, cs.ID, key}); err != nil {
				return err
			}
		}
	}
	return nil
}

// onSubscription applies a plan change. Active, trialing and past-due subscriptions carry
// their plan (from the configured price ids, else the subscription's metadata); deleted,
// canceled, unpaid and expired ones return the workspace to STARTER — unless the workspace
// has since moved to another subscription. Events older than the last applied one are
// skipped (Stripe does not order deliveries).
func (s *Service) onSubscription(ctx context.Context, tx *sqlx.Tx, ev *stripe.Event, sub *stripe.Subscription) error {
	ws, err := s.resolveWorkspace(ctx, tx, []string{sub.Metadata["workspaceId"]}, customerID(sub.Customer))
	if err != nil {
		return err
	}
	if c := customerID(sub.Customer); c != "" {
		if err := s.store.adoptCustomer(ctx, tx, ws, c); err != nil {
			return err
		}
	}
	ended := string(ev.Type) == evSubscriptionDeleted
	switch sub.Status {
	case stripe.SubscriptionStatusCanceled, stripe.SubscriptionStatusUnpaid, stripe.SubscriptionStatusIncompleteExpired:
		ended = true
	case stripe.SubscriptionStatusIncomplete:
		if !ended {
			return nil // the first payment is not done yet; checkout.session.completed decides
		}
	}
	if ended {
		current, err := s.store.currentSubscription(ctx, tx, ws)
		if err != nil {
			return err
		}
		if current != "" && current != sub.ID {
			s.log.Info("stripe: end of a superseded subscription ignored", "workspaceId", ws, "subscription", sub.ID)
			return nil
		}
		_, err = s.applyPlan(ctx, tx, ws, "", string(stripe.SubscriptionStatusCanceled), plans.Starter, ev)
		return err
	}
	plan := s.planOfSubscription(sub)
	if plan == "" {
		s.log.Warn("stripe: subscription with an unknown price ignored", "workspaceId", ws, "subscription", sub.ID)
		return nil
	}
	_, err = s.applyPlan(ctx, tx, ws, sub.ID, string(sub.Status), plan, ev)
	return err
}

// onInvoice e-mails the workspace's owners: "invoice ready" for invoice.paid, "payment
// failed" for invoice.payment_failed.
func (s *Service) onInvoice(ctx context.Context, tx *sqlx.Tx, ev *stripe.Event, inv *stripe.Invoice) error {
	var ids []string
	if inv.SubscriptionDetails != nil {
		ids = append(ids, inv.SubscriptionDetails.Metadata["workspaceId"])
	}
	ids = append(ids, inv.Metadata["workspaceId"])
	ws, err := s.resolveWorkspace(ctx, tx, ids, customerID(inv.Customer))
	if err != nil {
		return err
	}
	to, name, err := ownersOf(ctx, tx, s.store, s.owners, ws)
	if err != nil {
		return err
	}
	tpl, amount := mail.TemplateInvoiceReady, inv.AmountPaid
	if string(ev.Type) == evInvoicePaymentFailed {
		tpl, amount = mail.TemplatePaymentFailed, inv.AmountDue
	}
	for _, addr := range to {
		data := map[string]any{"WorkspaceName": name, "Amount": formatAmount(amount, string(inv.Currency))}
		if tpl == mail.TemplateInvoiceReady {
			data["InvoiceURL"] = inv.HostedInvoiceURL
		}
		if _, err := s.mailer.Enqueue(ctx, tx, mail.Message{WorkspaceID: ws, To: addr, Template: tpl, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// applyPlan records the subscription state of ev and sets the workspace's plan and
// subscription id, unless a newer subscription event was applied already. It reports
// whether it applied.
func (s *Service) applyPlan(ctx context.Context, tx *sqlx.Tx, ws, subID, status, plan string, ev *stripe.Event) (bool, error) {
	fresh, err := s.store.recordSubscription(ctx, tx, subscriptionState{
		workspaceID: ws, subscriptionID: subID, status: status, plan: plan,
		eventID: ev.ID, eventCreated: time.Unix(ev.Created, 0).UTC(),
	})
	if err != nil {
		return false, err
	}
	if !fresh {
		s.log.Info("stripe: stale subscription event skipped", "workspaceId", ws, "eventId", ev.ID)
		return false, nil
	}
	if err := s.store.setPlan(ctx, tx, ws, plan, subID); err != nil {
		return false, err
	}
	return true, nil
}

// resolveWorkspace finds the event's workspace by the ids it carries (metadata,
// client_reference_id) or by its Stripe customer. An id that names no workspace is a
// permanent failure (ErrPermanent); no clue at all means "not yet" (the job retries).
func (s *Service) resolveWorkspace(ctx context.Context, tx *sqlx.Tx, ids []string, customer string) (string, error) {
	named := ""
	for _, id := range ids {
		if id == "" {
			continue
		}
		named = id
		if !isUUID(id) {
			continue
		}
		id = strings.ToLower(id)
		ok, err := s.store.workspaceExists(ctx, tx, id)
		if err != nil {
			return "", err
		}
		if ok {
			return id, nil
		}
	}
	if customer != "" {
		ws, ok, err := s.store.workspaceByCustomer(ctx, tx, customer)
		if err != nil {
			return "", err
		}
		if ok {
			return ws, nil
		}
	}
	if named != "" {
		return "", permanent("workspace %q of the event does not exist", named)
	}
	return "", errUnresolved
}

func (s *Service) planOfSubscription(sub *stripe.Subscription) string {
	if sub.Items != nil {
		for _, it := range sub.Items.Data {
			if it != nil && it.Price != nil {
				if p := s.planForPrice(it.Price.ID); p != "" {
					return p
				}
			}
		}
	}
	if p, ok := plans.Get(sub.Metadata["plan"]); ok && p.SelfServe {
		return p.ID
	}
	return ""
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// formatAmount renders minor units: "$49.00" for USD, "49.00 EUR" otherwise.
func formatAmount(minor int64, currency string) string {
	v := fmt.Sprintf("%d.%02d", minor/100, minor%100)
	if currency == "" || strings.EqualFold(currency, "usd") {
		return "$" + v
	}
	return v + " " + strings.ToUpper(currency)
}
