package apptest_test

import (
	"testing"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func TestNewWorkspaceAndAddMember(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apitest.Options{}, func(*kernel.Deps) ([]kernel.Module, error) { return nil, nil })
	owner := env.NewWorkspace(plans.Pro, 50)
	admin := env.AddMember(owner, authn.RoleAdmin)

	var ws struct {
		Plan    string `db:"plan"`
		Balance int    `db:"credit_balance"`
		Ledger  int    `db:"ledger"`
	}
	if err := env.DB.Get(&ws, `SELECT plan, credit_balance,
  (SELECT COALESCE(SUM(delta), 0) FROM credit_ledger WHERE workspace_id = w.id) AS ledger
FROM workspaces w WHERE id = $1`, owner.ID); err != nil {
		t.Fatal(err)
	}
	if ws.Plan != plans.Pro || ws.Balance != 50 || ws.Ledger != 50 {
		t.Errorf("workspace = %+v, want PRO with 50 credits on the ledger", ws)
	}
	for _, a := range []apitest.Workspace{owner, admin} {
		var role string
		if err := env.DB.Get(&role, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, a.ID, a.UserID); err != nil {
			t.Fatal(err)
		}
		p, err := env.Deps.Issuer.Verify(a.Token)
		if role != string(a.Role) || err != nil || p.UserID != a.UserID || p.WorkspaceID != owner.ID || p.Role != a.Role {
			t.Errorf("%s: member role %q, token %+v (%v)", a.Email, role, p, err)
		}
	}
	if admin.Role != authn.RoleAdmin || admin.UserID == owner.UserID {
		t.Errorf("admin = %+v", admin)
	}
}
