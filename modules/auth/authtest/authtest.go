// Package authtest creates users, workspaces and memberships for tests through the auth
// module's own store, so that no other package's test writes auth's tables. Import it from
// _test.go files only.
//
// Other modules' tests use it directly with their apitest.Env:
//
//	owner := authtest.NewOwner(t, env.DB, env.Deps.Issuer)
//	admin := authtest.NewMember(t, env.DB, env.Deps.Issuer, owner.WorkspaceID, authn.RoleAdmin)
//
// or through apitest, which cannot import modules, by passing Accounts{} where apitest
// asks for an account creator.
package authtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/platform/authn"
)

// Account is a fixture member of a workspace, with an access token when an issuer was given.
type Account struct {
	WorkspaceID string
	UserID      string
	Email       string
	Role        authn.Role
	Token       string
}

// Email returns a unique address starting with prefix.
func Email(prefix string) string {
	return fmt.Sprintf("%s-%s@example.com", prefix, strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
}

// CreateUser inserts a user with a unique address and returns its id. With a password
// the user can log in; without one it cannot.
func CreateUser(t testing.TB, q sqlx.ExtContext, email, name, password string) string {
	t.Helper()
	id, err := auth.Fixtures{}.CreateUser(context.Background(), q, email, name, password)
	if err != nil {
		t.Fatalf("authtest: user %s: %v", email, err)
	}
	return id
}

// CreateWorkspace inserts a workspace named name and returns its id.
func CreateWorkspace(t testing.TB, q sqlx.ExtContext, name string) string {
	t.Helper()
	id, err := auth.Fixtures{}.CreateWorkspace(context.Background(), q, name)
	if err != nil {
		t.Fatalf("authtest: workspace: %v", err)
	}
	return id
}

// AddMember makes an existing user a member of the workspace with role.
func AddMember(t testing.TB, q sqlx.ExtContext, workspaceID, userID string, role authn.Role) {
	t.Helper()
	if err := (auth.Fixtures{}).AddMember(context.Background(), q, workspaceID, userID, role); err != nil {
		t.Fatalf("authtest: member: %v", err)
	}
}

// NewOwner creates a user, a workspace "Fixture" and the user's OWNER membership; the
// token is issued by iss (none when iss is nil).
func NewOwner(t testing.TB, q sqlx.ExtContext, iss *authn.Issuer) Account {
	t.Helper()
	a, err := Accounts{}.NewOwner(context.Background(), q)
	if err != nil {
		t.Fatalf("authtest: owner: %v", err)
	}
	a.Token = token(t, iss, a)
	return a
}

// NewMember creates a user and makes it a member of the workspace with role.
func NewMember(t testing.TB, q sqlx.ExtContext, iss *authn.Issuer, workspaceID string, role authn.Role) Account {
	t.Helper()
	a, err := Accounts{}.NewMember(context.Background(), q, workspaceID, role)
	if err != nil {
		t.Fatalf("authtest: member: %v", err)
	}
	a.Token = token(t, iss, a)
	return a
}

func token(t testing.TB, iss *authn.Issuer, a Account) string {
	t.Helper()
	if iss == nil {
		return ""
	}
	tok, err := iss.Issue(authn.Principal{UserID: a.UserID, WorkspaceID: a.WorkspaceID, Role: a.Role})
	if err != nil {
		t.Fatalf("authtest: token: %v", err)
	}
	return tok
}

// Accounts creates fixture accounts without a testing.TB, for helpers (such as apitest's)
// that declare their own small interface and report errors themselves.
type Accounts struct{}

// NewOwner creates a user, a workspace "Fixture" and the user's OWNER membership in one
// go on q (pass a transaction to make it atomic). Token is left empty.
func (Accounts) NewOwner(ctx context.Context, q sqlx.ExtContext) (Account, error) {
	f := auth.Fixtures{}
	a := Account{Email: Email("owner"), Role: authn.RoleOwner}
	var err error
	if a.UserID, err = f.CreateUser(ctx, q, a.Email, "Fixture Owner", ""); err != nil {
		return a, err
	}
	if a.WorkspaceID, err = f.CreateWorkspace(ctx, q, "Fixture"); err != nil {
		return a, err
	}
	return a, f.AddMember(ctx, q, a.WorkspaceID, a.UserID, a.Role)
}

// NewMember creates a user and makes it a member of the workspace with role. Token is
// left empty.
func (Accounts) NewMember(ctx context.Context, q sqlx.ExtContext, workspaceID string, role authn.Role) (Account, error) {
	f := auth.Fixtures{}
	a := Account{WorkspaceID: workspaceID, Email: Email("member"), Role: role}
	var err error
	if a.UserID, err = f.CreateUser(ctx, q, a.Email, "Fixture Member", ""); err != nil {
		return a, err
	}
	return a, f.AddMember(ctx, q, workspaceID, a.UserID, role)
}
