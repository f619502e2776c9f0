package billing

import (
	"net/http"
	"testing"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// The owner routes re-read the caller's role in the database: a demoted or removed owner's
// still-valid OWNER access token gets 403 at once, and nothing reaches Stripe.
func TestOwnerRoutesRereadTheRole(t *testing.T) {
	t.Parallel()
	te := newEnv(t, envOptions{})
	ws := te.NewWorkspace("STARTER", 0)
	demoted := te.AddMember(ws, authn.RoleOwner)
	removed := te.AddMember(ws, authn.RoleOwner)
	if _, err := te.DB.Exec(`UPDATE workspace_members SET role = 'MEMBER' WHERE workspace_id = $1 AND user_id = $2`, ws.ID, demoted.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := te.DB.Exec(`DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws.ID, removed.UserID); err != nil {
		t.Fatal(err)
	}
	routes := []struct {
		path string
		body any
	}{
		{"/v1/billing/checkout", map[string]any{"plan": "BUILDER"}},
		{"/v1/billing/topup", map[string]any{"pack": "2k"}},
		{"/v1/billing/portal", nil},
	}
	for _, who := range []apitest.Workspace{demoted, removed} {
		for _, rt := range routes {
			t.Run(who.Email+rt.path, func(t *testing.T) {
				te.Post(rt.path, who.Token, rt.body).ExpectError(t, http.StatusForbidden, "FORBIDDEN")
			})
		}
	}
	var customer *string
	if err := te.DB.Get(&customer, `SELECT stripe_customer_id FROM workspaces WHERE id = $1`, ws.ID); err != nil {
		t.Fatal(err)
	}
	if customer != nil {
		t.Errorf("a refused owner action created a Stripe customer %q", *customer)
	}
	// The real owner still gets through.
	if r := te.Post("/v1/billing/checkout", ws.Token, map[string]any{"plan": "BUILDER"}); r.Status != http.StatusOK {
		t.Fatalf("owner checkout: %d %s", r.Status, r.Body)
	}
}
