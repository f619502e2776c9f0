package billing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/axonhq/axon/modules/billing/plans"
)

// refusingStripe answers every call the way Stripe refuses requests: its error envelope with
// a 4xx status (customers are created, so the flows reach the refusing call).
func refusingStripe(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = r.ParseForm()
		refuse := func(status int, code, param, msg string) {
			w.WriteHeader(status)
			writeJSON(w, map[string]any{"error": map[string]any{
				"type": "invalid_request_error", "code": code, "param": param, "message": msg,
			}})
		}
		switch {
		case r.URL.Path == "/v1/customers":
			writeJSON(w, map[string]any{"id": "cus_refused", "object": "customer"})
		case r.URL.Path == "/v1/invoices" && r.Form.Get("starting_after") != "":
			refuse(http.StatusNotFound, "resource_missing", "starting_after", "No such invoice: '"+r.Form.Get("starting_after")+"'")
		case r.URL.Path == "/v1/invoices":
			refuse(http.StatusTooManyRequests, "rate_limit", "", "Too many requests")
		case r.URL.Path == "/v1/checkout/sessions" && r.Form.Get("mode") == "subscription":
			refuse(http.StatusBadRequest, "resource_missing", "line_items[0][price]", "No such price: 'price_pro_test'")
		case r.URL.Path == "/v1/checkout/sessions":
			refuse(http.StatusForbidden, "", "", "The provided key does not have the required permissions")
		case r.URL.Path == "/v1/billing_portal/sessions":
			refuse(http.StatusNotFound, "resource_missing", "customer", "No such customer: 'cus_refused'")
		default:
			refuse(http.StatusNotFound, "", "", "Unrecognized request URL")
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// A 4xx from Stripe, or an invoice cursor Stripe does not know, is a 4xx in the contract's
// shape (or 503 for our own key's refusal): never 500, never reported as an internal error.
func TestStripeRefusalsAreNotInternalErrors(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{apiBase: refusingStripe(t)})
	ws := te.NewWorkspace(plans.Starter, 0)
	if _, err := te.DB.ExecContext(context.Background(), `UPDATE workspaces SET stripe_customer_id = 'cus_refused' WHERE id = $1`, ws.ID); err != nil {
		t.Fatal(err)
	}

	// A well-formed cursor naming an invoice Stripe does not have.
	body := te.Get("/v1/billing/invoices?cursor=aW5fbm9wZQ", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	if d, _ := body["details"].(map[string]any); d["cursor"] == nil {
		t.Errorf("cursor error details: %v", body)
	}
	// A cursor that is not even one of ours never reaches Stripe.
	te.Get("/v1/billing/invoices?cursor=bm90IGFuIGlkIQ", ws.Token).ExpectError(t, 400, "VALIDATION_ERROR")
	te.Get("/v1/billing/invoices", ws.Token).ExpectError(t, 429, "RATE_LIMITED")

	b := te.Post("/v1/billing/checkout", ws.Token, map[string]any{"plan": "PRO"}).ExpectError(t, 400, "VALIDATION_ERROR")
	if d, _ := b["details"].(map[string]any); d["providerCode"] != "resource_missing" {
		t.Errorf("checkout details: %v", b)
	}
	te.Post("/v1/billing/portal", ws.Token, nil).ExpectError(t, 404, "NOT_FOUND")
	// Our key lacking a permission is nothing the caller can fix: 503, still not INTERNAL.
	te.Post("/v1/billing/topup", ws.Token, map[string]any{"pack": "2k"}).ExpectError(t, 503, "SERVICE_UNAVAILABLE")

	// The error handler reports (log "request failed" and Sentry) only INTERNAL_ERROR.
	if logs := te.LogText(); strings.Contains(logs, `"msg":"request failed"`) || strings.Contains(logs, "INTERNAL_ERROR") {
		t.Errorf("a Stripe refusal was reported as an internal error:\n%s", logs)
	}
}
