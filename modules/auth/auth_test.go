package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// Every test here builds its own server (apitest.New: its own in-process rate limiter) and
// its own accounts with unique addresses, so they run in parallel; the ones that start a
// River worker (recovery_test.go) do not, and say why.

const password = "correct horse battery"

// captureMailer records enqueued mail and stores nothing (auth's tests check what auth asks
// for; the email module has its own tests).
type captureMailer struct {
	mu   sync.Mutex
	msgs []email.Message
}

func (m *captureMailer) Enqueue(_ context.Context, _ *sqlx.Tx, msg email.Message) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return uuid.NewString(), nil
}

func (m *captureMailer) last() email.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs[len(m.msgs)-1]
}

type fixture struct {
	*apptest.Env
	mail   *captureMailer
	grants *sync.Map
}

func newEnv(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mail: &captureMailer{}, grants: &sync.Map{}}
	f.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		m, err := auth.New(auth.Deps{
			DB: d.DB, Queue: d.Queue, Issuer: d.Issuer, Limiter: d.Limiter, Mailer: f.mail, Log: d.Log,
			BcryptCost: 4, RefreshTTL: time.Hour, AppURL: "https://app.example.com",
			SignupGrant: func(_ context.Context, tx *sqlx.Tx, workspaceID string) error {
				// Proves the grant runs inside the registration transaction: the workspace
				// row is visible on tx before commit.
				var n int
				if err := tx.Get(&n, `SELECT count(*) FROM workspaces WHERE id = $1`, workspaceID); err != nil || n != 1 {
					return fmt.Errorf("workspace not visible in tx: %v", err)
				}
				f.grants.Store(workspaceID, true)
				return nil
			},
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{m}, nil
	})
	return f
}

func uniqueEmail(prefix string) string { return authtest.Email(prefix) }

type session struct {
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	Workspace struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Role string `json:"role"`
		Plan string `json:"plan"`
	} `json:"workspace"`
	AccessToken string `json:"accessToken"`
	ExpiresIn   int    `json:"expiresIn"`
	refresh     *http.Cookie
}

func (f *fixture) register(t *testing.T, name, addr string) session {
	t.Helper()
	return register(t, f.Env, name, addr)
}

// register signs up and returns the session with its refresh cookie.
func register(t *testing.T, env *apptest.Env, name, addr string) session {
	t.Helper()
	r := env.Post("/v1/auth/register", "", map[string]string{"name": name, "email": addr, "password": password})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var s session
	r.JSON(t, &s)
	s.refresh = testkit.Cookie(t, r.Header, auth.RefreshCookie)
	return s
}

// scenario is one request of an API test and what its answer must be, in the style of
// PocketBase's ApiScenario. The scenarios of a table run in order, each as a subtest: a
// later one may rely on what an earlier one changed, so the table stops at the first
// failure.
type scenario struct {
	name string
	req  apitest.Req
	// at fills, when the scenario runs, what earlier scenarios produced (a token, a cookie).
	at     func(r *apitest.Req)
	status int
	code   string   // the error code, for a 4xx
	has    []string // substrings the body contains
	check  func(t *testing.T, r *apitest.Response)
}

func play(t *testing.T, env *apptest.Env, table []scenario) {
	t.Helper()
	for _, sc := range table {
		ok := t.Run(sc.name, func(t *testing.T) {
			req := sc.req
			if sc.at != nil {
				sc.at(&req)
			}
			if req.Method == "" {
				req.Method = http.MethodGet
				if req.Body != nil {
					req.Method = http.MethodPost
				}
			}
			r := env.Do(req)
			if sc.code != "" {
				r.ExpectError(t, sc.status, sc.code)
			} else if r.Status != sc.status {
				t.Fatalf("status = %d, want %d; body %s", r.Status, sc.status, r.Body)
			}
			for _, sub := range sc.has {
				if !strings.Contains(string(r.Body), sub) {
					t.Errorf("body %s does not contain %q", r.Body, sub)
				}
			}
			if sc.check != nil {
				sc.check(t, r)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

func bearer(tok *string) func(*apitest.Req) { return func(r *apitest.Req) { r.Token = *tok } }

func withCookie(c **http.Cookie) func(*apitest.Req) {
	return func(r *apitest.Req) { r.Cookies = []*http.Cookie{*c} }
}

func TestRegisterLoginMe(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	addr := uniqueEmail("Ann")
	s := f.register(t, "Ann Smith", addr)
	if s.User.Email != strings.ToLower(addr) {
		t.Errorf("email = %q, want lower-cased %q", s.User.Email, strings.ToLower(addr))
	}
	if s.Workspace.Name != "Ann Smith's Workspace" || s.Workspace.Role != "OWNER" || s.Workspace.Plan != "STARTER" {
		t.Errorf("workspace = %+v", s.Workspace)
	}
	if s.AccessToken == "" || s.ExpiresIn <= 0 {
		t.Errorf("token = %q expiresIn = %d", s.AccessToken, s.ExpiresIn)
	}
	if _, ok := f.grants.Load(s.Workspace.ID); !ok {
		t.Error("signup grant was not called for the new workspace")
	}
	c := s.refresh
	if !c.HttpOnly || c.Path != "/v1/auth" || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 3600 {
		t.Errorf("cookie attributes = %+v", c)
	}

	var l session
	play(t, f.Env, []scenario{
		{
			name: "login in other letters", req: apitest.Req{Path: "/v1/auth/login", Body: map[string]string{"email": strings.ToUpper(addr), "password": password}},
			status: 200, check: func(t *testing.T, r *apitest.Response) {
				r.JSON(t, &l)
				if l.Workspace.ID != s.Workspace.ID {
					t.Errorf("login workspace = %s, want %s", l.Workspace.ID, s.Workspace.ID)
				}
			},
		},
		{
			name: "me", at: bearer(&l.AccessToken), req: apitest.Req{Path: "/v1/auth/me"},
			status: 200, has: []string{`"id":"` + s.User.ID + `"`}, check: func(t *testing.T, r *apitest.Response) {
				var me struct {
					Workspaces []struct{ ID, Name, Slug, Role string }
				}
				r.JSON(t, &me)
				if len(me.Workspaces) != 1 || me.Workspaces[0].Role != "OWNER" || me.Workspaces[0].Slug == "" {
					t.Errorf("me = %s", r.Body)
				}
			},
		},
		{
			name: "the same address again", req: apitest.Req{Path: "/v1/auth/register", Body: map[string]string{"name": "Other", "email": addr, "password": password}},
			status: 409, code: "CONFLICT",
		},
	})
	var users int
	if err := f.DB.Get(&users, `SELECT count(*) FROM users WHERE email = $1`, strings.ToLower(addr)); err != nil || users != 1 {
		t.Errorf("users with the address = %d (%v)", users, err)
	}

	// Nothing secret reaches the log.
	logs := f.LogText()
	for _, secret := range []string{password, s.AccessToken, l.AccessToken, s.refresh.Value} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret %q", secret[:8])
		}
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	addr := uniqueEmail("bob")
	f.register(t, "Bob Jones", addr)
	unknown := f.Post("/v1/auth/login", "", map[string]string{"email": uniqueEmail("nobody"), "password": password})
	wrong := f.Post("/v1/auth/login", "", map[string]string{"email": addr, "password": "wrong password"})
	a := unknown.ExpectError(t, http.StatusUnauthorized, "INVALID_CREDENTIALS")
	b := wrong.ExpectError(t, http.StatusUnauthorized, "INVALID_CREDENTIALS")
	if a["message"] != b["message"] {
		t.Errorf("messages differ: %q vs %q", a["message"], b["message"])
	}
}

func TestRegisterBadInput(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	long := strings.Repeat("x", 300)
	var addrs []string
	addr := func() string { a := uniqueEmail("bad"); addrs = append(addrs, strings.ToLower(a)); return a }
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed json", `{"name":"Ann",`, 400, "VALIDATION_ERROR", ""},
		{"wrong type", `{"name":42,"email":"a@example.com","password":"longenough"}`, 400, "VALIDATION_ERROR", "name"},
		{"short name", map[string]string{"name": "A", "email": addr(), "password": password}, 400, "VALIDATION_ERROR", "name"},
		{"huge name", map[string]string{"name": long, "email": addr(), "password": password}, 400, "VALIDATION_ERROR", "name"},
		{"bad email", map[string]string{"name": "Ann", "email": "not-an-email", "password": password}, 400, "VALIDATION_ERROR", "email"},
		{"huge email", map[string]string{"name": "Ann", "email": long + "@example.com", "password": password}, 400, "VALIDATION_ERROR", "email"},
		{"short password", map[string]string{"name": "Ann", "email": addr(), "password": "short"}, 400, "VALIDATION_ERROR", "password"},
		{"huge password", map[string]string{"name": "Ann", "email": addr(), "password": long}, 400, "VALIDATION_ERROR", "password"},
		{"empty body", "", 400, "VALIDATION_ERROR", "email"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case comes from its own client address so that the register limit
			// (5 per hour per IP) does not mask the validation answer.
			ip := map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}
			r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/register", Body: tc.body, Header: ip})
			m := r.ExpectError(t, tc.status, tc.code)
			if tc.field != "" {
				d, _ := m["details"].(map[string]any)
				if _, ok := d[tc.field]; !ok {
					t.Errorf("details %v do not name %q", m["details"], tc.field)
				}
			}
		})
	}
	r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/register", Body: "name=x", Header: map[string]string{"Content-Type": "text/plain", "X-Forwarded-For": "203.0.113.200"}})
	r.ExpectError(t, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	// Other tests register in parallel: count only this test's addresses.
	var stored int
	if err := f.DB.Get(&stored, `SELECT count(*) FROM users WHERE email = ANY($1) OR email = 'a@example.com'`, "{"+strings.Join(addrs, ",")+"}"); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("bad input stored %d users", stored)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	s := f.register(t, "Cara Diaz", uniqueEmail("cara"))
	var (
		rotated *http.Cookie
		access  string
		body    struct{ AccessToken, RefreshToken string }
	)
	play(t, f.Env, []scenario{
		{
			name: "cookie refresh rotates", at: withCookie(&s.refresh), req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh"},
			status: 200, check: func(t *testing.T, r *apitest.Response) {
				if strings.Contains(string(r.Body), "refreshToken") {
					t.Errorf("cookie refresh returned the token in the body: %s", r.Body)
				}
				if rotated = testkit.Cookie(t, r.Header, auth.RefreshCookie); rotated.Value == s.refresh.Value {
					t.Fatal("refresh token was not rotated")
				}
				var tok struct{ AccessToken string }
				r.JSON(t, &tok)
				access = tok.AccessToken
			},
		},
		{name: "the rotated access token works", at: bearer(&access), req: apitest.Req{Path: "/v1/auth/me"}, status: 200},
		{
			name: "body refresh returns the new token in the body", req: apitest.Req{Path: "/v1/auth/refresh"},
			at:     func(r *apitest.Req) { r.Body = map[string]string{"refreshToken": rotated.Value} },
			status: 200, check: func(t *testing.T, r *apitest.Response) {
				r.JSON(t, &body)
				if body.RefreshToken == "" || body.RefreshToken == rotated.Value {
					t.Fatalf("body refresh: %s", r.Body)
				}
			},
		},
		// Reusing an already-rotated token fails and revokes the whole family, so the
		// newest token, never used, is dead too.
		{
			name: "reuse of a rotated token", at: withCookie(&s.refresh), req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh"},
			status: 401, code: "INVALID_TOKEN",
		},
		{
			name: "the newest token after reuse", req: apitest.Req{Path: "/v1/auth/refresh"},
			at:     func(r *apitest.Req) { r.Body = map[string]string{"refreshToken": body.RefreshToken} },
			status: 401, code: "INVALID_TOKEN",
		},
		{name: "no token", req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh"}, status: 401, code: "MISSING_TOKEN"},
		{name: "garbage", req: apitest.Req{Path: "/v1/auth/refresh", Body: map[string]string{"refreshToken": "garbage"}}, status: 401, code: "INVALID_TOKEN"},
	})
	var live int
	if err := f.DB.Get(&live, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, s.User.ID); err != nil || live != 0 {
		t.Errorf("live tokens after reuse = %d (%v)", live, err)
	}
}

func TestLogoutRevokes(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	s := f.register(t, "Dan Eve", uniqueEmail("dan"))
	play(t, f.Env, []scenario{
		{
			name: "logout clears the cookie", req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/logout", Cookies: []*http.Cookie{s.refresh}},
			status: 204, check: func(t *testing.T, r *apitest.Response) {
				cleared := false
				for _, c := range (&http.Response{Header: r.Header}).Cookies() {
					cleared = cleared || c.Name == auth.RefreshCookie && c.MaxAge < 0 && c.Value == ""
				}
				if !cleared {
					t.Errorf("cookie not cleared: %v", r.Header.Values("Set-Cookie"))
				}
			},
		},
		{
			name: "the token is revoked", req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{s.refresh}},
			status: 401, code: "INVALID_TOKEN",
		},
	})
}

func TestBadTokens(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	s := f.register(t, "Eve Fox", uniqueEmail("eve"))
	parts := strings.Split(s.AccessToken, ".")
	other, _ := authn.NewIssuer(strings.Repeat("o", 40), time.Minute)
	foreign, _ := other.Issue(authn.Principal{UserID: s.User.ID, WorkspaceID: s.Workspace.ID, Role: authn.RoleOwner})
	expiredIss, _ := authn.NewIssuer(f.Deps.Config.JWTSecret, -time.Minute)
	expired, _ := expiredIss.Issue(authn.Principal{UserID: s.User.ID, WorkspaceID: s.Workspace.ID, Role: authn.RoleOwner})
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	cases := map[string]struct {
		token, code string
	}{
		"missing":       {"", "MISSING_TOKEN"},
		"tampered":      {parts[0] + "." + parts[1] + "x." + parts[2], "INVALID_TOKEN"},
		"bad signature": {parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "INVALID_TOKEN"},
		"alg none":      {none, "INVALID_TOKEN"},
		"other secret":  {foreign, "INVALID_TOKEN"},
		"expired":       {expired, "INVALID_TOKEN"},
		"garbage":       {"abc", "INVALID_TOKEN"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f.Get("/v1/auth/me", tc.token).ExpectError(t, http.StatusUnauthorized, tc.code)
		})
	}
}

func TestWorkspaceRename(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	owner := f.register(t, "Gail Hart", uniqueEmail("gail"))
	member := authtest.NewMember(t, f.DB, f.Deps.Issuer, owner.Workspace.ID, authn.RoleMember)
	admin := authtest.NewMember(t, f.DB, f.Deps.Issuer, owner.Workspace.ID, authn.RoleAdmin)
	rename := func(token, name string) apitest.Req {
		return apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace", Token: token, Body: map[string]string{"name": name}}
	}
	play(t, f.Env, []scenario{
		{
			name: "get", req: apitest.Req{Path: "/v1/workspace", Token: owner.AccessToken}, status: 200,
			has: []string{`"id":"` + owner.Workspace.ID + `"`, `"memberCount":3`, `"plan":"STARTER"`},
		},
		{name: "owner renames", req: rename(owner.AccessToken, "Acme Support"), status: 200, has: []string{`"name":"Acme Support"`}},
		{name: "admin renames", req: rename(admin.Token, "Acme Help"), status: 200, has: []string{`"name":"Acme Help"`}},
		{name: "empty name", req: rename(owner.AccessToken, ""), status: 400, code: "VALIDATION_ERROR"},
		{name: "a member cannot rename", req: rename(member.Token, "Mine"), status: 403, code: "FORBIDDEN"},
		{name: "the name stuck", req: apitest.Req{Path: "/v1/workspace", Token: member.Token}, status: 200, has: []string{`"name":"Acme Help"`}},
	})
}

func TestInviteAndAccept(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	owner := f.register(t, "Ida Host", uniqueEmail("ida"))
	inviteeAddr := uniqueEmail("ivan")
	if r := f.Post("/v1/workspace/invitations", owner.AccessToken, map[string]string{"email": inviteeAddr, "role": "ADMIN"}); r.Status != http.StatusCreated {
		t.Fatalf("invite: %d %s", r.Status, r.Body)
	}
	// The e-mail carries the accept link, sealed (never in the stored template data).
	msg := f.mail.last()
	link := msg.Secret["AcceptURL"]
	if _, inData := msg.Data["AcceptURL"]; inData {
		t.Error("the accept link (with its raw token) is in the stored template data")
	}
	if msg.Template != email.TemplateInvitation || msg.To != inviteeAddr || !strings.HasPrefix(link, "https://app.example.com/accept-invitation?token=") {
		t.Fatalf("invitation mail = %+v", msg)
	}
	token := strings.TrimPrefix(link, "https://app.example.com/accept-invitation?token=")
	accept := func(body map[string]string) apitest.Req {
		return apitest.Req{Method: http.MethodPost, Path: "/v1/auth/accept-invitation", Body: body}
	}
	play(t, f.Env, []scenario{
		{name: "a new account needs a name and password", req: accept(map[string]string{"token": token}), status: 400, code: "VALIDATION_ERROR"},
		{
			name: "accept", req: accept(map[string]string{"token": token, "name": "Ivan Ivanov", "password": password}), status: 200,
			has: []string{`"id":"` + owner.Workspace.ID + `"`, `"role":"ADMIN"`},
		},
		{name: "an invitation works once", req: accept(map[string]string{"token": token, "name": "Ivan", "password": password}), status: 404, code: "NOT_FOUND"},
		{name: "an unknown token", req: accept(map[string]string{"token": "nope", "name": "Ivan", "password": password}), status: 404, code: "NOT_FOUND"},
		{
			name: "members lists both", req: apitest.Req{Path: "/v1/workspace/members", Token: owner.AccessToken}, status: 200,
			check: func(t *testing.T, r *apitest.Response) {
				var ml struct {
					Items []struct{ Email, Role string }
				}
				r.JSON(t, &ml)
				if len(ml.Items) != 2 || ml.Items[1].Email != inviteeAddr || ml.Items[1].Role != "ADMIN" {
					t.Fatalf("members = %s", r.Body)
				}
			},
		},
		{name: "inviting a member again", req: apitest.Req{
			Path: "/v1/workspace/invitations", Token: owner.AccessToken,
			Body: map[string]string{"email": inviteeAddr, "role": "MEMBER"},
		}, status: 409, code: "CONFLICT"},
	})
}

func TestMemberRoles(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	owner := f.register(t, "Gina Boss", uniqueEmail("gina"))
	admin := authtest.NewMember(t, f.DB, f.Deps.Issuer, owner.Workspace.ID, authn.RoleAdmin)
	cookie, demoted := owner.refresh, ""
	setRole := func(token, userID, role string) apitest.Req {
		return apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + userID, Token: token, Body: map[string]string{"role": role}}
	}
	remove := func(token, userID string) apitest.Req {
		return apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + userID, Token: token}
	}
	play(t, f.Env, []scenario{
		{name: "an admin cannot invite", req: apitest.Req{
			Path: "/v1/workspace/invitations", Token: admin.Token,
			Body: map[string]string{"email": uniqueEmail("x"), "role": "MEMBER"},
		}, status: 403, code: "FORBIDDEN"},
		{name: "an admin cannot change roles", req: setRole(admin.Token, owner.User.ID, "MEMBER"), status: 403, code: "FORBIDDEN"},
		{
			name: "an admin lists members", req: apitest.Req{Path: "/v1/workspace/members", Token: admin.Token}, status: 200,
			has: []string{owner.User.ID, admin.UserID},
		},
		{name: "bad role", req: setRole(owner.AccessToken, admin.UserID, "KING"), status: 400, code: "VALIDATION_ERROR"},
		{name: "unknown member", req: setRole(owner.AccessToken, uuid.NewString(), "MEMBER"), status: 404, code: "NOT_FOUND"},
		{name: "not a uuid", req: remove(owner.AccessToken, "not-a-uuid"), status: 404, code: "NOT_FOUND"},
		{name: "the last owner cannot step down", req: setRole(owner.AccessToken, owner.User.ID, "ADMIN"), status: 409, code: "CONFLICT"},
		{name: "the last owner cannot leave", req: remove(owner.AccessToken, owner.User.ID), status: 409, code: "CONFLICT"},
		{name: "promote the admin", req: setRole(owner.AccessToken, admin.UserID, "OWNER"), status: 200, has: []string{`"role":"OWNER"`}},
		{name: "with a second owner the first steps down", req: setRole(owner.AccessToken, owner.User.ID, "MEMBER"), status: 200},
		// Access tokens carry the role for their life; the new role reaches the token at
		// the next refresh, and the refreshed MEMBER token may no longer rename.
		{
			name: "refresh after stepping down", at: withCookie(&cookie), req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh"},
			status: 200, check: func(t *testing.T, r *apitest.Response) {
				cookie = testkit.Cookie(t, r.Header, auth.RefreshCookie)
				var tok struct{ AccessToken string }
				r.JSON(t, &tok)
				demoted = tok.AccessToken
			},
		},
		{name: "the refreshed token is a member's", at: bearer(&demoted), req: apitest.Req{
			Method: http.MethodPatch, Path: "/v1/workspace",
			Body: map[string]string{"name": "Mine"},
		}, status: 403, code: "FORBIDDEN"},
		{name: "the new owner removes the old one", req: remove(f.TokenFor(owner.Workspace.ID, admin.UserID, authn.RoleOwner), owner.User.ID), status: 204},
		// Removal revokes the removed member's refresh tokens for the workspace.
		{
			name: "the removed member's refresh", at: withCookie(&cookie), req: apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh"},
			status: 401, code: "INVALID_TOKEN",
		},
	})
}

func TestConcurrentDemotionsKeepAnOwner(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Hana One", uniqueEmail("hana"))
	b := authtest.NewMember(t, f.DB, f.Deps.Issuer, a.Workspace.ID, authn.RoleOwner)
	// Each owner demotes the other at the same time: exactly one may win.
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, pair := range [][2]string{{a.AccessToken, b.UserID}, {b.Token, a.User.ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + pair[1], Token: pair[0], Body: map[string]string{"role": "MEMBER"}}).Status
		}()
	}
	wg.Wait()
	var owners int
	if err := f.DB.Get(&owners, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'OWNER'`, a.Workspace.ID); err != nil {
		t.Fatal(err)
	}
	if owners != 1 {
		t.Fatalf("owners after concurrent demotions = %d (statuses %v)", owners, statuses)
	}
}

func TestSwitchWorkspace(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Iris Jay", uniqueEmail("iris"))
	other := authtest.NewOwner(t, f.DB, nil)
	var switched string
	switchTo := func(id string) apitest.Req {
		return apitest.Req{Path: "/v1/auth/switch-workspace", Token: a.AccessToken, Body: map[string]string{"workspaceId": id}}
	}
	play(t, f.Env, []scenario{
		{name: "not a member", req: switchTo(other.WorkspaceID), status: 404, code: "NOT_FOUND"},
		{name: "not a uuid", req: switchTo("nope"), status: 400, code: "VALIDATION_ERROR"},
	})
	authtest.AddMember(t, f.DB, other.WorkspaceID, a.User.ID, authn.RoleMember)
	play(t, f.Env, []scenario{
		{name: "a member", req: switchTo(other.WorkspaceID), status: 200, check: func(t *testing.T, r *apitest.Response) {
			var s session
			r.JSON(t, &s)
			if s.Workspace.ID != other.WorkspaceID || s.Workspace.Role != "MEMBER" {
				t.Fatalf("switch: %s", r.Body)
			}
			switched = s.AccessToken
		}},
		{
			name: "the switched token is in the other workspace", at: bearer(&switched), req: apitest.Req{Path: "/v1/workspace"}, status: 200,
			has: []string{`"id":"` + other.WorkspaceID + `"`},
		},
	})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	body := map[string]string{"email": uniqueEmail("rl"), "password": "wrong password"}
	for i := 1; i <= 10; i++ {
		r := f.Post("/v1/auth/login", "", body)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
		}
		if r.Header.Get("RateLimit-Limit") != "10" {
			t.Fatalf("RateLimit-Limit = %q", r.Header.Get("RateLimit-Limit"))
		}
	}
	r := f.Post("/v1/auth/login", "", body)
	r.ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
}

// The directory answers other modules from auth's tables: roles re-read in a transaction,
// and the addresses of owners (billing notices) and of owners and admins (handoffs).
func TestDirectory(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	dir := auth.NewDirectory(f.DB)
	ctx := context.Background()
	owner := authtest.NewOwner(t, f.DB, nil)
	admin := authtest.NewMember(t, f.DB, nil, owner.WorkspaceID, authn.RoleAdmin)
	member := authtest.NewMember(t, f.DB, nil, owner.WorkspaceID, authn.RoleMember)
	elsewhere := authtest.NewOwner(t, f.DB, nil)

	got, err := dir.OwnerAddresses(ctx, f.DB, owner.WorkspaceID)
	if err != nil || len(got) != 1 || got[0] != owner.Email {
		t.Errorf("OwnerAddresses = %v (%v), want [%s]", got, err, owner.Email)
	}
	got, err = dir.NotifyAddresses(ctx, owner.WorkspaceID)
	if err != nil || strings.Join(got, ",") != owner.Email+","+admin.Email {
		t.Errorf("NotifyAddresses = %v (%v), want the owner then the admin", got, err)
	}
	if got, err := dir.OwnerAddresses(ctx, f.DB, uuid.NewString()); err != nil || got == nil || len(got) != 0 {
		t.Errorf("OwnerAddresses of an unknown workspace = %#v (%v), want an empty list", got, err)
	}
	if a, err := dir.UserEmail(ctx, f.DB, member.UserID); err != nil || a != member.Email {
		t.Errorf("UserEmail = %q (%v)", a, err)
	}
	if a, err := dir.UserEmail(ctx, f.DB, uuid.NewString()); err != nil || a != "" {
		t.Errorf("UserEmail of an unknown user = %q (%v)", a, err)
	}

	cases := []struct {
		name        string
		workspaceID string
		userID      string
		min         authn.Role
		forbidden   bool
	}{
		{"owner as owner", owner.WorkspaceID, owner.UserID, authn.RoleOwner, false},
		{"admin as admin", owner.WorkspaceID, admin.UserID, authn.RoleAdmin, false},
		{"admin as owner", owner.WorkspaceID, admin.UserID, authn.RoleOwner, true},
		{"member as admin", owner.WorkspaceID, member.UserID, authn.RoleAdmin, true},
		{"another workspace's owner", owner.WorkspaceID, elsewhere.UserID, authn.RoleMember, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := f.DB.BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() //nolint:errcheck // read-only
			err = dir.RequireRoleTx(ctx, tx, tc.workspaceID, tc.userID, tc.min)
			if tc.forbidden != (err != nil) {
				t.Fatalf("RequireRoleTx = %v, want forbidden %v", err, tc.forbidden)
			}
			if tc.forbidden && !strings.Contains(err.Error(), "FORBIDDEN") {
				t.Fatalf("RequireRoleTx = %v, want FORBIDDEN", err)
			}
		})
	}
}
