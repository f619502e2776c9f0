package billing

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func TestPlansAndCredits(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	ws := te.NewWorkspace(plans.Builder, 1000)
	member := te.AddMember(ws, authn.RoleMember)

	te.Get("/v1/billing/plans", "").ExpectError(t, 401, "MISSING_TOKEN")
	r := te.Get("/v1/billing/plans", member.Token)
	var cat struct {
		Plans []plans.Plan `json:"plans"`
		Packs []plans.Pack `json:"packs"`
	}
	r.JSON(t, &cat)
	if r.Status != 200 || len(cat.Plans) != 4 || len(cat.Packs) != 3 || cat.Plans[1].MonthlyCredits != 10_000 {
		t.Fatalf("plans: %d %s", r.Status, r.Body)
	}

	c := te.mod.Credits()
	for _, d := range []Deduction{
		{WorkspaceID: ws.ID, Amount: 1, Reason: ReasonMessageConsumed},
		{WorkspaceID: ws.ID, Amount: 1, Reason: ReasonMessageConsumed},
		{WorkspaceID: ws.ID, Amount: 2, Reason: ReasonTaggingConsumed},
		{WorkspaceID: ws.ID, Amount: 10, Reason: ReasonVoiceConsumed},
	} {
		if _, err := c.Deduct(ctx, nil, d); err != nil {
			t.Fatal(err)
		}
	}
	// Last month's consumption does not count.
	if _, err := te.DB.ExecContext(ctx, `
WITH l AS (INSERT INTO credit_ledger (id, workspace_id, delta, reason, balance, created_at)
           VALUES ($1, $2, -7, 'MESSAGE_CONSUMED', 0, now() - interval '40 days'))
UPDATE workspaces SET credit_balance = credit_balance - 7 WHERE id = $2`, pg.NewID(), ws.ID); err != nil {
		t.Fatal(err)
	}
	var cr struct {
		Balance      int    `json:"balance"`
		Plan         string `json:"plan"`
		MonthlyGrant int    `json:"monthlyGrant"`
		Consumed     struct {
			Messages, Voice, Tagging, Total int
		} `json:"consumed"`
	}
	r = te.Get("/v1/billing/credits", member.Token)
	r.JSON(t, &cr)
	if r.Status != 200 || cr.Balance != 1000-14-7 || cr.Plan != plans.Builder || cr.MonthlyGrant != 10_000 ||
		cr.Consumed.Messages != 2 || cr.Consumed.Tagging != 2 || cr.Consumed.Voice != 10 || cr.Consumed.Total != 14 {
		t.Fatalf("credits: %d %s", r.Status, r.Body)
	}
}

func TestLedgerPagination(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ctx := context.Background()
	ws := te.NewWorkspace(plans.Starter, 100) // one ADJUSTMENT row
	other := te.NewWorkspace(plans.Starter, 100)
	for range 24 {
		if _, err := te.mod.Credits().Deduct(ctx, nil, Deduction{WorkspaceID: ws.ID, Amount: 1, Reason: ReasonMessageConsumed}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	var balances []int
	cursor, pages := "", 0
	for {
		path := "/v1/billing/ledger?limit=10"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items []struct {
				ID      string `json:"id"`
				Delta   int    `json:"delta"`
				Reason  string `json:"reason"`
				Balance int    `json:"balance"`
			} `json:"items"`
			NextCursor *string `json:"nextCursor"`
		}
		r := te.Get(path, ws.Token)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		r.JSON(t, &page)
		pages++
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Fatalf("row %s on two pages", it.ID)
			}
			seen[it.ID] = true
			balances = append(balances, it.Balance)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("pages %d rows %d, want 3 and 25", pages, len(seen))
	}
	for i := 1; i < len(balances); i++ { // newest first: balances rise going back in time
		if balances[i] != balances[i-1]+1 {
			t.Fatalf("order broken at %d: %v", i, balances)
		}
	}
	if balances[0] != 76 || balances[len(balances)-1] != 100 {
		t.Fatalf("balances %v", balances)
	}
	// Another workspace's token sees only its own row.
	var own struct {
		Items []any `json:"items"`
	}
	te.Get("/v1/billing/ledger", other.Token).JSON(t, &own)
	if len(own.Items) != 1 {
		t.Fatalf("other workspace sees %d rows", len(own.Items))
	}
	te.Get("/v1/billing/ledger?cursor=bm90LWEtY3Vyc29y", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	te.Get("/v1/billing/ledger?limit=500", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
}

func TestCheckoutTopupPortalInvoices(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Starter, 0)

	r := te.Post("/v1/billing/checkout", ws.Token, map[string]any{"plan": "BUILDER"})
	if r.Status != 200 || !strings.HasPrefix(r.Map(t)["url"].(string), "https://checkout.stripe.com/") {
		t.Fatalf("checkout: %d %s", r.Status, r.Body)
	}
	customers := te.fake.calls("POST", "/v1/customers")
	if len(customers) != 1 || customers[0].Form.Get("metadata[workspaceId]") != ws.ID || customers[0].Form.Get("email") != ws.Email {
		t.Fatalf("customer creation: %+v", customers)
	}
	sessions := te.fake.calls("POST", "/v1/checkout/sessions")
	f := sessions[0].Form
	if f.Get("mode") != "subscription" || f.Get("client_reference_id") != ws.ID || f.Get("metadata[workspaceId]") != ws.ID ||
		f.Get("metadata[plan]") != "BUILDER" || f.Get("subscription_data[metadata][workspaceId]") != ws.ID ||
		f.Get("line_items[0][price]") != "price_builder_test" || !strings.HasPrefix(f.Get("success_url"), "http://localhost:3000/billing?") ||
		!strings.HasPrefix(f.Get("customer"), "cus_fake") {
		t.Fatalf("checkout params: %v", f)
	}
	var stored string
	if err := te.DB.GetContext(context.Background(), &stored, `SELECT stripe_customer_id FROM workspaces WHERE id = $1`, ws.ID); err != nil || stored != f.Get("customer") {
		t.Fatalf("stored customer %q, %v", stored, err)
	}

	r = te.Post("/v1/billing/topup", ws.Token, map[string]any{"pack": "10k"})
	if r.Status != 200 || r.Map(t)["url"] == "" {
		t.Fatalf("topup: %d %s", r.Status, r.Body)
	}
	sessions = te.fake.calls("POST", "/v1/checkout/sessions")
	f = sessions[1].Form
	if f.Get("mode") != "payment" || f.Get("metadata[pack]") != "10k" || f.Get("metadata[workspaceId]") != ws.ID ||
		f.Get("line_items[0][price_data][unit_amount]") != "7900" || f.Get("customer") != stored {
		t.Fatalf("topup params: %v", f)
	}
	if n := len(te.fake.calls("POST", "/v1/customers")); n != 1 {
		t.Fatalf("customer created %d times, want once (reused)", n)
	}

	r = te.Post("/v1/billing/portal", ws.Token, nil)
	if r.Status != 200 || !strings.HasPrefix(r.Map(t)["url"].(string), "https://billing.stripe.com/") {
		t.Fatalf("portal: %d %s", r.Status, r.Body)
	}
	if p := te.fake.calls("POST", "/v1/billing_portal/sessions"); p[0].Form.Get("customer") != stored || p[0].Form.Get("return_url") != "http://localhost:3000/billing" {
		t.Fatalf("portal params: %v", p[0].Form)
	}

	te.fake.addInvoices(stored, 3)
	var inv struct {
		Items []struct {
			ID         string    `json:"id"`
			AmountPaid int       `json:"amountPaid"`
			Created    time.Time `json:"created"`
			Hosted     string    `json:"hostedInvoiceUrl"`
		} `json:"items"`
		NextCursor *string `json:"nextCursor"`
	}
	member := te.AddMember(ws, authn.RoleMember)
	r = te.Get("/v1/billing/invoices?limit=2", member.Token)
	r.JSON(t, &inv)
	if r.Status != 200 || len(inv.Items) != 2 || inv.NextCursor == nil || inv.Items[0].AmountPaid != 4900 || inv.Items[0].Hosted == "" {
		t.Fatalf("invoices: %d %s", r.Status, r.Body)
	}
	r = te.Get("/v1/billing/invoices?limit=2&cursor="+*inv.NextCursor, member.Token)
	r.JSON(t, &inv)
	if len(inv.Items) != 1 || inv.NextCursor != nil {
		t.Fatalf("second invoice page: %s", r.Body)
	}

	// With a subscription, plan changes go through the portal.
	if _, err := te.DB.ExecContext(context.Background(), `UPDATE workspaces SET stripe_subscription_id = 'sub_x' WHERE id = $1`, ws.ID); err != nil {
		t.Fatal(err)
	}
	te.Post("/v1/billing/checkout", ws.Token, map[string]any{"plan": "PRO"}).ExpectError(t, 409, "CONFLICT")
}

func TestBillingBadInput(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Starter, 0)
	admin := te.AddMember(ws, authn.RoleAdmin)
	member := te.AddMember(ws, authn.RoleMember)

	for _, body := range []any{
		map[string]any{"plan": "GOLD"},
		map[string]any{"plan": "STARTER"},
		map[string]any{"plan": "ENTERPRISE"},
		map[string]any{},
		map[string]any{"plan": 3},
	} {
		te.Post("/v1/billing/checkout", ws.Token, body).ExpectError(t, 400, "VALIDATION_ERROR")
	}
	for _, body := range []any{map[string]any{"pack": "5k"}, map[string]any{"pack": ""}, map[string]any{"pack": true}} {
		te.Post("/v1/billing/topup", ws.Token, body).ExpectError(t, 400, "VALIDATION_ERROR")
	}
	for _, who := range []string{admin.Token, member.Token} {
		te.Post("/v1/billing/checkout", who, map[string]any{"plan": "BUILDER"}).ExpectError(t, 403, "FORBIDDEN")
		te.Post("/v1/billing/topup", who, map[string]any{"pack": "2k"}).ExpectError(t, 403, "FORBIDDEN")
		te.Post("/v1/billing/portal", who, nil).ExpectError(t, 403, "FORBIDDEN")
	}
	if n := len(te.fake.calls("POST", "/v1/checkout/sessions")) + len(te.fake.calls("POST", "/v1/customers")); n != 0 {
		t.Fatalf("Stripe was called %d times for refused requests", n)
	}
	if n := te.count(t, `SELECT count(*) FROM workspaces WHERE id = $1 AND stripe_customer_id IS NOT NULL`, ws.ID); n != 0 {
		t.Fatal("refused requests stored a customer")
	}
	r := te.Do(reqText("/v1/billing/checkout", ws.Token, "plan=BUILDER"))
	r.ExpectError(t, 415, "UNSUPPORTED_MEDIA_TYPE")
}

func TestStripeNotConfigured(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{noStripe: true})
	ws := te.NewWorkspace(plans.Starter, 10)
	te.Post("/v1/billing/checkout", ws.Token, map[string]any{"plan": "BUILDER"}).ExpectError(t, 501, "BILLING_NOT_CONFIGURED")
	te.Post("/v1/billing/topup", ws.Token, map[string]any{"pack": "2k"}).ExpectError(t, 501, "BILLING_NOT_CONFIGURED")
	te.Post("/v1/billing/portal", ws.Token, nil).ExpectError(t, 501, "BILLING_NOT_CONFIGURED")
	te.Get("/v1/billing/invoices", ws.Token).ExpectError(t, 501, "BILLING_NOT_CONFIGURED")
	_, body, sig := stripeEvent(t, "checkout.session.completed", map[string]any{"id": "cs_1"}, eventOpts{})
	te.postWebhook(body, sig).ExpectError(t, 501, "BILLING_NOT_CONFIGURED")
	// Credits keep working.
	for _, p := range []string{"/v1/billing/credits", "/v1/billing/plans", "/v1/billing/ledger"} {
		if r := te.Get(p, ws.Token); r.Status != 200 {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	if _, err := te.mod.Credits().Deduct(context.Background(), nil, Deduction{WorkspaceID: ws.ID, Amount: 1, Reason: ReasonMessageConsumed}); err != nil {
		t.Fatal(err)
	}
}

func reqText(path, token, body string) apitestReq {
	return apitestReq{Method: http.MethodPost, Path: path, Token: token, Body: body, Header: map[string]string{"Content-Type": "text/plain"}}
}

// Bad input on every billing route is a 4xx in the error shape, checked before any Stripe
// call (the fake records none).
func TestBadInputScenarios(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace(plans.Starter, 10)
	member := te.AddMember(ws, authn.RoleMember)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, sc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, field               string
	}{
		{"ledger cursor not base64", "GET", "/v1/billing/ledger?cursor=!!!", ws.Token, nil, 400, "VALIDATION_ERROR", "cursor"},
		{"ledger cursor of another list", "GET", "/v1/billing/ledger?cursor=" + b64("in_123"), ws.Token, nil, 400, "VALIDATION_ERROR", "cursor"},
		{"ledger cursor with a bad id", "GET", "/v1/billing/ledger?cursor=" + b64("2026-11-30T07:00:00Z|1 OR 1=1"), ws.Token, nil, 400, "VALIDATION_ERROR", "cursor"},
		{"ledger limit 0", "GET", "/v1/billing/ledger?limit=0", ws.Token, nil, 400, "VALIDATION_ERROR", "limit"},
		{"invoices limit text", "GET", "/v1/billing/invoices?limit=ten", ws.Token, nil, 400, "VALIDATION_ERROR", "limit"},
		{"invoices cursor not an id", "GET", "/v1/billing/invoices?cursor=" + b64("in_1; DROP"), ws.Token, nil, 400, "VALIDATION_ERROR", "cursor"},
		{"invoices cursor too long", "GET", "/v1/billing/invoices?cursor=" + strings.Repeat("A", 600), ws.Token, nil, 400, "VALIDATION_ERROR", "cursor"},
		{"checkout unknown plan", "POST", "/v1/billing/checkout", ws.Token, map[string]any{"plan": "GOLD"}, 400, "VALIDATION_ERROR", "plan"},
		{"checkout enterprise", "POST", "/v1/billing/checkout", ws.Token, map[string]any{"plan": "ENTERPRISE"}, 400, "VALIDATION_ERROR", "plan"},
		{"topup unknown pack", "POST", "/v1/billing/topup", ws.Token, map[string]any{"pack": "1m"}, 400, "VALIDATION_ERROR", "pack"},
		{"checkout by a member", "POST", "/v1/billing/checkout", member.Token, map[string]any{"plan": "PRO"}, 403, "FORBIDDEN", ""},
		{"ledger without a token", "GET", "/v1/billing/ledger", "", nil, 401, "MISSING_TOKEN", ""},
	} {
		t.Run(sc.name, func(t *testing.T) {
			body := te.Do(apitest.Req{Method: sc.method, Path: sc.path, Token: sc.token, Body: sc.body}).ExpectError(t, sc.status, sc.code)
			if sc.field != "" {
				if d, _ := body["details"].(map[string]any); d[sc.field] == nil {
					t.Errorf("details %v, want the field %s", body["details"], sc.field)
				}
			}
		})
	}
	te.fake.mu.Lock()
	n := len(te.fake.requests)
	te.fake.mu.Unlock()
	if n != 0 {
		t.Errorf("%d Stripe requests for bad input", n)
	}
}
