// Package apptest is platform/testkit/apitest with the set-up that needs modules: a test
// server whose NewWorkspace and AddMember create accounts through auth's test helpers
// (modules/auth/authtest) and set plans and credits through billing's
// (modules/billing/billingtest), so that no test writes another module's tables and
// platform/ imports no module. Import it from _test.go files only.
//
//	env := apptest.New(t, apitest.Options{}, build)
//	owner := env.NewWorkspace(plans.Starter, 100)
//	admin := env.AddMember(owner, authn.RoleAdmin)
//	r := env.Get("/v1/agents", owner.Token)
//
// modules/email cannot use it from its internal tests (auth imports email): its tests that
// need accounts live in package email_test.
package apptest

import (
	"context"
	"testing"

	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/modules/billing/billingtest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// Env is an apitest.Env whose fixtures go through the owning modules' helpers.
type Env struct {
	*apitest.Env
}

// New is apitest.New.
func New(t testing.TB, o apitest.Options, build func(d *kernel.Deps) ([]kernel.Module, error)) *Env {
	t.Helper()
	return &Env{Env: apitest.New(t, o, build)}
}

// NewWorkspace creates a user, a workspace on plan with credits (one ADJUSTMENT ledger row
// when credits > 0) and the user's OWNER membership, and returns them with an access token.
func (e *Env) NewWorkspace(plan string, credits int) apitest.Workspace {
	e.T.Helper()
	ctx := context.Background()
	a := authtest.NewOwner(e.T, e.DB, e.Deps.Issuer)
	if err := billingtest.SetPlan(ctx, e.DB, a.WorkspaceID, plan); err != nil {
		e.T.Fatal(err)
	}
	if err := billingtest.SetBalance(ctx, e.DB, a.WorkspaceID, credits); err != nil {
		e.T.Fatal(err)
	}
	return workspace(a)
}

// AddMember creates another member of w's workspace with role and returns it with a token.
func (e *Env) AddMember(w apitest.Workspace, role authn.Role) apitest.Workspace {
	e.T.Helper()
	return workspace(authtest.NewMember(e.T, e.DB, e.Deps.Issuer, w.ID, role))
}

func workspace(a authtest.Account) apitest.Workspace {
	return apitest.Workspace{ID: a.WorkspaceID, UserID: a.UserID, Email: a.Email, Role: a.Role, Token: a.Token}
}
