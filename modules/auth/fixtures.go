package auth

import (
	"context"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/axonhq/axon/platform/authn"
)

// Fixtures writes accounts through auth's store without the sign-up flow: no verification
// e-mail, no session, no sign-up grant. It is for tests (modules/auth/authtest wraps it for
// other modules' tests, which never write auth's tables themselves); no production code
// path uses it.
type Fixtures struct{ st store }

// CreateUser inserts a user and returns its id. An empty password stores a hash no
// password matches (the user cannot log in); the address is taken as given.
func (f Fixtures) CreateUser(ctx context.Context, q sqlx.ExtContext, email, name, password string) (string, error) {
	hash := "x"
	if password != "" {
		b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return "", err
		}
		hash = string(b)
	}
	u, err := f.st.insertUser(ctx, q, email, hash, name, false)
	return u.ID, err
}

// CreateWorkspace inserts a workspace (plan and credits at their defaults; billing's test
// helpers change them) and returns its id.
func (f Fixtures) CreateWorkspace(ctx context.Context, q sqlx.ExtContext, name string) (string, error) {
	w, err := f.st.insertWorkspace(ctx, q, name, slugify(name))
	return w.ID, err
}

// AddMember makes userID a member of the workspace with role.
func (f Fixtures) AddMember(ctx context.Context, q sqlx.ExtContext, workspaceID, userID string, role authn.Role) error {
	return f.st.insertMember(ctx, q, workspaceID, userID, role)
}
