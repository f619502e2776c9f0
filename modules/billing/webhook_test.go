package billing

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// The journey of "How it will be checked", through the real webhook route and a real River
// worker: sign-up credits, a BUILDER checkout replayed three times, a top-up, cancellation.
func TestStripeLifecycleThroughWorker(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	te.StartWorker()
	ctx := context.Background()
	ws := te.NewWorkspace(plans.Starter, 0)
	if err := te.inTx(t, func(tx *sqlx.Tx) error { return te.mod.SignupGrant(ctx, tx, ws.ID) }); err != nil {
		t.Fatal(err)
	}
	if b := te.balance(t, ws.ID); b != 500 {
		t.Fatalf("after sign-up: %d, want 500", b)
	}

	cus, sub := "cus_life_"+ws.ID[24:], "sub_life_"+ws.ID[24:]
	cs := checkoutSession(ws.ID, "subscription", map[string]any{"workspaceId": ws.ID, "plan": "BUILDER"}, cus, sub)
	evID, body, sig := stripeEvent(t, "checkout.session.completed", cs, eventOpts{})
	for i := range 4 { // the first delivery and three replays
		r := te.postWebhook(body, sig)
		if r.Status != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, r.Status, r.Body)
		}
		want := "duplicate"
		if i == 0 {
			want = "queued"
		}
		if got := r.Map(t)["result"]; got != want {
			t.Fatalf("delivery %d result = %v, want %s", i, got, want)
		}
	}
	processed := func(id string) func() bool {
		return func() bool {
			return te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1 AND processed_at IS NOT NULL`, id) == 1
		}
	}
	apitest.Eventually(t, 15*time.Second, processed(evID), "checkout event processed")
	if p, s := te.plan(t, ws.ID); p != plans.Builder || s == nil || *s != sub {
		t.Fatalf("plan = %s sub %v, want BUILDER %s", p, s, sub)
	}
	if b := te.balance(t, ws.ID); b != 10_500 {
		t.Fatalf("after checkout: %d, want 10500", b)
	}
	if n := te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1 AND type = $2 AND payload->'data'->'object'->>'mode' = 'subscription'`,
		evID, "checkout.session.completed"); n != 1 {
		t.Fatal("the event row does not hold the event")
	}
	if n := te.count(t, `SELECT count(*) FROM river_job WHERE kind = 'billing.process_stripe_event' AND args->>'eventId' = $1`, evID); n != 1 {
		t.Fatalf("jobs for the event = %d, want 1", n)
	}
	if n := te.count(t, `SELECT count(*) FROM workspaces WHERE id = $1 AND stripe_customer_id = $2`, ws.ID, cus); n != 1 {
		t.Fatal("customer id not stored")
	}

	topup := checkoutSession(ws.ID, "payment", map[string]any{"workspaceId": ws.ID, "pack": "2k"}, cus, "")
	evID, body, sig = stripeEvent(t, "checkout.session.completed", topup, eventOpts{})
	if r := te.postWebhook(body, sig); r.Status != http.StatusOK {
		t.Fatalf("top-up: %d %s", r.Status, r.Body)
	}
	apitest.Eventually(t, 15*time.Second, processed(evID), "top-up processed")
	if b := te.balance(t, ws.ID); b != 12_500 {
		t.Fatalf("after top-up: %d, want 12500", b)
	}

	del := subscriptionObject(sub, cus, "canceled", "price_builder_test", map[string]any{"workspaceId": ws.ID, "plan": "BUILDER"})
	evID, body, sig = stripeEvent(t, "customer.subscription.deleted", del, eventOpts{created: time.Now().Add(time.Minute)})
	if r := te.postWebhook(body, sig); r.Status != http.StatusOK {
		t.Fatalf("deleted: %d %s", r.Status, r.Body)
	}
	apitest.Eventually(t, 15*time.Second, processed(evID), "deletion processed")
	if p, s := te.plan(t, ws.ID); p != plans.Starter || s != nil {
		t.Fatalf("after deletion: plan %s sub %v, want STARTER and none", p, s)
	}
	if b := te.balance(t, ws.ID); b != 12_500 {
		t.Fatalf("credits after downgrade = %d, want 12500 (kept)", b)
	}
}

// subscription.updated arrives before checkout.session.completed, and old events are
// redelivered after newer ones: the newest state wins, credits are granted once.
func TestOutOfOrderSubscriptionEvents(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Starter, 0)
	meta := map[string]any{"workspaceId": ws.ID, "plan": "BUILDER"}
	cus, sub := "cus_ooo_"+ws.ID[24:], "sub_ooo_"+ws.ID[24:]
	t0 := time.Now().Add(-time.Hour)

	// The customer upgraded to PRO in the portal (t0+10 min) before we saw the checkout (t0).
	te.deliver(t, "customer.subscription.updated", subscriptionObject(sub, cus, "active", "price_pro_test", meta), eventOpts{created: t0.Add(10 * time.Minute)})
	if p, _ := te.plan(t, ws.ID); p != plans.Pro {
		t.Fatalf("plan = %s, want PRO", p)
	}
	cs := checkoutSession(ws.ID, "subscription", meta, cus, sub)
	te.deliver(t, "checkout.session.completed", cs, eventOpts{created: t0})
	if p, s := te.plan(t, ws.ID); p != plans.Pro || s == nil || *s != sub {
		t.Fatalf("a stale checkout changed the plan: %s %v", p, s)
	}
	if b := te.balance(t, ws.ID); b != 10_000 {
		t.Fatalf("balance = %d, want the BUILDER grant 10000 that was paid", b)
	}
	// An older update (t0+5 min) redelivered late changes nothing.
	te.deliver(t, "customer.subscription.updated", subscriptionObject(sub, cus, "active", "price_builder_test", meta), eventOpts{created: t0.Add(5 * time.Minute)})
	if p, _ := te.plan(t, ws.ID); p != plans.Pro {
		t.Fatalf("stale update applied: %s", p)
	}
	// Deletion, then an update from before the deletion: STARTER stays.
	te.deliver(t, "customer.subscription.deleted", subscriptionObject(sub, cus, "canceled", "price_pro_test", meta), eventOpts{created: t0.Add(30 * time.Minute)})
	te.deliver(t, "customer.subscription.updated", subscriptionObject(sub, cus, "active", "price_pro_test", meta), eventOpts{created: t0.Add(20 * time.Minute)})
	if p, s := te.plan(t, ws.ID); p != plans.Starter || s != nil {
		t.Fatalf("after deletion and a stale update: %s %v, want STARTER", p, s)
	}
	// The end of a superseded subscription does not downgrade the new one.
	sub2 := sub + "_2"
	te.deliver(t, "checkout.session.completed", checkoutSession(ws.ID, "subscription", meta, cus, sub2), eventOpts{created: t0.Add(40 * time.Minute)})
	te.deliver(t, "customer.subscription.deleted", subscriptionObject(sub, cus, "canceled", "price_pro_test", meta), eventOpts{created: t0.Add(50 * time.Minute)})
	if p, s := te.plan(t, ws.ID); p != plans.Builder || s == nil || *s != sub2 {
		t.Fatalf("old subscription's end downgraded the new one: %s %v", p, s)
	}
	if b := te.balance(t, ws.ID); b != 20_000 {
		t.Fatalf("balance = %d, want two BUILDER grants", b)
	}
}

// An event whose workspace cannot be found yet is retried, not dropped.
func TestUnresolvedEventIsRetried(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ctx := context.Background()
	ws := te.NewWorkspace(plans.Starter, 0)
	cus := "cus_later_" + ws.ID[24:]
	id, body, sig := stripeEvent(t, "customer.subscription.updated", subscriptionObject("sub_later", cus, "active", "price_pro_test", nil), eventOpts{})
	if r := te.postWebhook(body, sig); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	err := te.mod.svc.ProcessEvent(ctx, id)
	var cancel *rivertype.JobCancelError
	if !errors.Is(err, errUnresolved) || errors.As(jobError(err), &cancel) {
		t.Fatalf("err = %v, want a retryable errUnresolved", err)
	}
	if n := te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1 AND processed_at IS NULL`, id); n != 1 {
		t.Fatal("an unresolved event was marked processed")
	}
	if _, err := te.DB.ExecContext(ctx, `UPDATE workspaces SET stripe_customer_id = $2 WHERE id = $1`, ws.ID, cus); err != nil {
		t.Fatal(err)
	}
	if err := te.mod.svc.ProcessEvent(ctx, id); err != nil {
		t.Fatal(err)
	}
	if p, _ := te.plan(t, ws.ID); p != plans.Pro {
		t.Fatalf("plan = %s, want PRO", p)
	}
	// A workspace id that names nothing is a permanent failure.
	id, body, sig = stripeEvent(t, "checkout.session.completed", checkoutSession("0190b3f2-0000-7000-8000-0000000000ff", "payment",
		map[string]any{"workspaceId": "0190b3f2-0000-7000-8000-0000000000ff", "pack": "2k"}, "", ""), eventOpts{})
	if r := te.postWebhook(body, sig); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
	// The service says so (ErrPermanent); the job layer cancels the job.
	if err := te.mod.svc.ProcessEvent(ctx, id); !errors.Is(err, ErrPermanent) || !errors.As(jobError(err), &cancel) {
		t.Fatalf("err = %v, want ErrPermanent, cancelled by the job", err)
	}
}

func TestInvoiceEmails(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Builder, 0)
	cus := "cus_inv_" + ws.ID[24:]
	if _, err := te.DB.ExecContext(context.Background(), `UPDATE workspaces SET stripe_customer_id = $2 WHERE id = $1`, ws.ID, cus); err != nil {
		t.Fatal(err)
	}
	inv := map[string]any{
		"id": "in_1", "object": "invoice", "customer": cus, "currency": "usd", "amount_paid": 4900, "amount_due": 4900,
		"hosted_invoice_url": "https://invoice.stripe.com/i/in_1", "status": "paid",
	}
	id := te.deliver(t, "invoice.paid", inv, eventOpts{})
	if err := te.mod.svc.ProcessEvent(context.Background(), id); err != nil { // a second run is a no-op
		t.Fatal(err)
	}
	var data string
	if err := te.DB.GetContext(context.Background(), &data, `SELECT data::text FROM emails WHERE workspace_id = $1 AND template = 'invoice_ready' AND "to" = $2`, ws.ID, ws.Email); err != nil {
		t.Fatalf("invoice_ready e-mail: %v", err)
	}
	if !strings.Contains(data, "$49.00") || !strings.Contains(data, "https://invoice.stripe.com/i/in_1") {
		t.Fatalf("e-mail data = %s", data)
	}
	inv["status"], inv["amount_paid"] = "open", 0
	te.deliver(t, "invoice.payment_failed", inv, eventOpts{})
	if n := te.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1 AND template = 'payment_failed'`, ws.ID); n != 1 {
		t.Fatalf("payment_failed e-mails = %d, want 1", n)
	}
	if n := te.count(t, `SELECT count(*) FROM emails WHERE workspace_id = $1`, ws.ID); n != 2 {
		t.Fatalf("e-mails = %d, want 2", n)
	}
}

// Bad input: nothing is stored and the contract's error comes back.
func TestWebhookRejections(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Starter, 0)
	obj := checkoutSession(ws.ID, "payment", map[string]any{"workspaceId": ws.ID, "pack": "2k"}, "", "")
	cases := []struct {
		name   string
		o      eventOpts
		status int
		code   string
	}{
		{"wrong secret", eventOpts{secret: "whsec_someone_else"}, 401, "INVALID_SIGNATURE"},
		{"stale timestamp", eventOpts{signedAt: time.Now().Add(-301 * time.Second)}, 401, "INVALID_SIGNATURE"},
		{"no signature", eventOpts{noSigning: true}, 401, "INVALID_SIGNATURE"},
		{"connected account", eventOpts{account: "acct_foreign"}, 400, "VALIDATION_ERROR"},
		{"live event on a test key", eventOpts{livemode: true}, 400, "VALIDATION_ERROR"},
		{"other API version", eventOpts{version: "2024-06-20"}, 400, "VALIDATION_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, body, sig := stripeEvent(t, "checkout.session.completed", obj, c.o)
			te.postWebhook(body, sig).ExpectError(t, c.status, c.code)
			if n := te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1`, id); n != 0 {
				t.Fatal("a rejected event was stored")
			}
		})
	}
	t.Run("tampered body", func(t *testing.T) {
		id, body, sig := stripeEvent(t, "checkout.session.completed", obj, eventOpts{})
		body = []byte(strings.Replace(string(body), `"2k"`, `"50k"`, 1))
		te.postWebhook(body, sig).ExpectError(t, 401, "INVALID_SIGNATURE")
		if n := te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1`, id); n != 0 {
			t.Fatal("stored")
		}
	})
	t.Run("unknown type is acknowledged and ignored", func(t *testing.T) {
		id, body, sig := stripeEvent(t, "customer.tax_id.created", map[string]any{"id": "txi_1", "object": "tax_id"}, eventOpts{})
		r := te.postWebhook(body, sig)
		if r.Status != http.StatusOK || r.Map(t)["result"] != "ignored" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if n := te.count(t, `SELECT count(*) FROM stripe_events WHERE id = $1`, id); n != 0 {
			t.Fatal("an ignored event was stored")
		}
	})
	t.Run("body over 1 MB", func(t *testing.T) {
		big := map[string]any{"id": "cs_big", "object": "checkout.session", "padding": strings.Repeat("x", 1<<20)}
		_, body, sig := stripeEvent(t, "checkout.session.completed", big, eventOpts{})
		te.postWebhook(body, sig).ExpectError(t, 413, "PAYLOAD_TOO_LARGE")
	})
	if b := te.balance(t, ws.ID); b != 0 {
		t.Fatalf("balance = %d, want 0", b)
	}
}

func TestWorkerArgs(t *testing.T) {
	t.Parallel()
	opts := ProcessStripeEventArgs{}.InsertOpts()
	if opts.MaxAttempts != 10 || opts.Queue != river.QueueDefault {
		t.Fatalf("process_stripe_event opts = %+v", opts)
	}
	if got := (MonthlyGrantArgs{}).InsertOpts().MaxAttempts; got != 3 {
		t.Fatalf("monthly_grant attempts = %d", got)
	}
}
