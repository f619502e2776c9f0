package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

const (
	testSecretKey     = "sk_test_51AxonBillingTestKey"
	testWebhookSecret = "whsec_axon_billing_test"
)

// testEnv is the billing and email modules served through the real HTTP stack, with Stripe
// answered by api (the fake below, or stripe-mock).
type testEnv struct {
	*apptest.Env
	mod  *Module
	fake *fakeStripe
}

type envOptions struct {
	noStripe bool   // STRIPE_SECRET_KEY unset
	apiBase  string // default: a new fakeStripe
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	te := &testEnv{}
	base := o.apiBase
	if base == "" && !o.noStripe {
		te.fake = newFakeStripe(t)
		base = te.fake.URL
	}
	te.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: email.LogSender{Log: d.Log}, Log: d.Log, AppURL: "http://localhost:3000"})
		if err != nil {
			return nil, err
		}
		var sc StripeConfig
		if !o.noStripe {
			sc = StripeConfig{
				SecretKey: testSecretKey, WebhookSecret: testWebhookSecret, APIBase: base,
				PriceBuilder: "price_builder_test", PricePro: "price_pro_test",
				FrontendURL: "http://localhost:3000/",
			}
		}
		// The owner routes re-read the caller's role and the e-mails find the owners through
		// auth's directory, as main.go wires it.
		dir := auth.NewDirectory(d.DB)
		te.mod, err = New(Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Mailer: mail.Mailer(), Roles: dir, Addresses: dir, Log: d.Log,
			Authed: d.Authed,
			Stripe: sc,
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{te.mod, mail}, nil
	})
	return te
}

// balance reads workspaces.credit_balance and checks the ledger invariant on the way.
func (te *testEnv) balance(t testing.TB, ws string) int {
	t.Helper()
	var r struct {
		Balance int `db:"credit_balance"`
		Sum     int `db:"ledger_sum"`
	}
	err := te.DB.GetContext(context.Background(), &r, `
SELECT w.credit_balance, COALESCE((SELECT SUM(delta) FROM credit_ledger l WHERE l.workspace_id = w.id), 0) AS ledger_sum
FROM workspaces w WHERE w.id = $1`, ws)
	if err != nil {
		t.Fatal(err)
	}
	if r.Balance != r.Sum {
		t.Fatalf("invariant broken: balance %d, ledger sum %d", r.Balance, r.Sum)
	}
	return r.Balance
}

func (te *testEnv) plan(t testing.TB, ws string) (plan string, sub *string) {
	t.Helper()
	var r struct {
		Plan string  `db:"plan"`
		Sub  *string `db:"stripe_subscription_id"`
	}
	if err := te.DB.GetContext(context.Background(), &r, `SELECT plan, stripe_subscription_id FROM workspaces WHERE id = $1`, ws); err != nil {
		t.Fatal(err)
	}
	return r.Plan, r.Sub
}

func (te *testEnv) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := te.DB.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (te *testEnv) inTx(t testing.TB, fn func(tx *sqlx.Tx) error) error {
	t.Helper()
	return te.DB.InTx(context.Background(), fn)
}

// Stripe events.

type eventOpts struct {
	id        string
	created   time.Time // default now
	signedAt  time.Time // default now
	secret    string    // default testWebhookSecret
	account   string
	livemode  bool
	version   string // default stripe.APIVersion
	noSigning bool
}

// stripeEvent builds an event body in Stripe's wire format and signs it with stripe-go's own
// test helper. It returns the event id, the body and the Stripe-Signature header.
func stripeEvent(t testing.TB, typ string, object map[string]any, o eventOpts) (string, []byte, string) {
	t.Helper()
	if o.id == "" {
		o.id = "evt_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24]
	}
	if o.created.IsZero() {
		o.created = time.Now()
	}
	if o.version == "" {
		o.version = stripe.APIVersion
	}
	ev := map[string]any{
		"id": o.id, "object": "event", "api_version": o.version, "created": o.created.Unix(),
		"livemode": o.livemode, "type": typ, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": object},
	}
	if o.account != "" {
		ev["account"] = o.account
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if o.noSigning {
		return o.id, body, ""
	}
	if o.secret == "" {
		o.secret = testWebhookSecret
	}
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: o.secret, Timestamp: o.signedAt})
	return o.id, body, sp.Header
}

func (te *testEnv) postWebhook(body []byte, sig string) *apitest.Response {
	h := map[string]string{}
	if sig != "" {
		h["Stripe-Signature"] = sig
	}
	return te.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/webhooks/stripe", Body: body, Header: h})
}

// deliver posts a signed event and processes it synchronously (what the job does).
func (te *testEnv) deliver(t testing.TB, typ string, object map[string]any, o eventOpts) string {
	t.Helper()
	id, body, sig := stripeEvent(t, typ, object, o)
	if r := te.postWebhook(body, sig); r.Status != http.StatusOK {
		t.Fatalf("webhook %s: %d %s", typ, r.Status, r.Body)
	}
	if err := te.mod.svc.ProcessEvent(context.Background(), id); err != nil {
		t.Fatalf("process %s: %v", typ, err)
	}
	return id
}

func checkoutSession(ws, mode string, meta map[string]any, customer, subscription string) map[string]any {
	o := map[string]any{
		"id": "cs_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20], "object": "checkout.session",
		"mode": mode, "status": "complete", "payment_status": "paid",
		"client_reference_id": ws, "metadata": meta, "customer": customer,
		"currency": "usd", "amount_total": 4900,
	}
	if subscription != "" {
		o["subscription"] = subscription
	} else {
		o["subscription"] = nil
	}
	return o
}

func subscriptionObject(id, customer, status, price string, meta map[string]any) map[string]any {
	return map[string]any{
		"id": id, "object": "subscription", "customer": customer, "status": status, "metadata": meta,
		"items": map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "si_" + id, "object": "subscription_item", "price": map[string]any{"id": price, "object": "price"}},
		}},
	}
}

// fakeStripe speaks the part of Stripe's wire format billing uses: form-encoded requests,
// JSON objects and lists, Stripe's error envelope and Idempotency-Key on customer creation.
type fakeStripe struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []fakeRequest
	customers map[string]string // idempotency key → customer id
	invoices  map[string][]map[string]any
	n         int
}

type fakeRequest struct {
	Method, Path string
	Form         url.Values
}

func newFakeStripe(t testing.TB) *fakeStripe {
	f := &fakeStripe{customers: map[string]string{}, invoices: map[string][]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	if r.Header.Get("Authorization") != "Bearer "+testSecretKey {
		stripeErr(w, http.StatusUnauthorized, "invalid_request_error", "Invalid API Key provided")
		return
	}
	if err := r.ParseForm(); err != nil {
		stripeErr(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Form: r.Form})
	f.n++
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/customers":
		key := r.Header.Get("Idempotency-Key")
		id, ok := f.customers[key]
		if !ok || key == "" {
			id = "cus_fake" + strings.ReplaceAll(uuid.NewString(), "-", "")[:14]
			f.customers[key] = id
		}
		writeJSON(w, map[string]any{
			"id": id, "object": "customer", "email": r.Form.Get("email"), "name": r.Form.Get("name"),
			"metadata": map[string]any{"workspaceId": r.Form.Get("metadata[workspaceId]")},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions":
		if r.Form.Get("mode") == "" || r.Form.Get("success_url") == "" || r.Form.Get("line_items[0][quantity]") == "" {
			stripeErr(w, http.StatusBadRequest, "invalid_request_error", "Missing required param")
			return
		}
		id := fmt.Sprintf("cs_test_fake%d", f.n)
		writeJSON(w, map[string]any{
			"id": id, "object": "checkout.session", "mode": r.Form.Get("mode"),
			"customer": r.Form.Get("customer"), "client_reference_id": r.Form.Get("client_reference_id"),
			"url": "https://checkout.stripe.com/c/pay/" + id, "status": "open", "payment_status": "unpaid",
		})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/billing_portal/sessions":
		id := fmt.Sprintf("bps_fake%d", f.n)
		writeJSON(w, map[string]any{
			"id": id, "object": "billing_portal.session", "customer": r.Form.Get("customer"),
			"return_url": r.Form.Get("return_url"), "url": "https://billing.stripe.com/p/session/" + id,
		})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/invoices":
		all := f.invoices[r.Form.Get("customer")]
		start := 0
		if after := r.Form.Get("starting_after"); after != "" {
			for i, inv := range all {
				if inv["id"] == after {
					start = i + 1
				}
			}
		}
		limit, _ := strconv.Atoi(r.Form.Get("limit"))
		if limit <= 0 {
			limit = 10
		}
		end := min(start+limit, len(all))
		page := all[start:end]
		if page == nil {
			page = []map[string]any{}
		}
		writeJSON(w, map[string]any{"object": "list", "url": "/v1/invoices", "has_more": end < len(all), "data": page})
	default:
		stripeErr(w, http.StatusNotFound, "invalid_request_error", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+")")
	}
}

func (f *fakeStripe) calls(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeStripe) addInvoices(customer string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		f.invoices[customer] = append(f.invoices[customer], map[string]any{
			"id": fmt.Sprintf("in_fake_%s_%d", customer, i), "object": "invoice", "number": fmt.Sprintf("AX-%04d", i+1),
			"status": "paid", "currency": "usd", "amount_due": 4900, "amount_paid": 4900, "customer": customer,
			"created":            time.Now().Add(-time.Duration(i) * 24 * time.Hour).Unix(),
			"hosted_invoice_url": "https://invoice.stripe.com/i/" + strconv.Itoa(i), "invoice_pdf": "https://pay.stripe.com/invoice/" + strconv.Itoa(i) + "/pdf",
		})
	}
}

func stripeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.WriteHeader(status)
	writeJSON(w, map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }

func apitestEventually(t testing.TB, cond func() bool) {
	t.Helper()
	apitest.Eventually(t, 10*time.Second, cond, "condition")
}

type apitestReq = apitest.Req
