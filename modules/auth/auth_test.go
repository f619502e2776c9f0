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
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

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
	*apitest.Env
	mail   *captureMailer
	grants *sync.Map
}

func newEnv(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mail: &captureMailer{}, grants: &sync.Map{}}
	f.Env = apitest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
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

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%s@example.com", prefix, strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
}

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

func refreshCookie(t *testing.T, r *apitest.Response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == auth.RefreshCookie {
			return c
		}
	}
	t.Fatalf("no refresh cookie in %v", r.Header)
	return nil
}

func (f *fixture) register(t *testing.T, name, addr string) session {
	t.Helper()
	r := f.Post("/v1/auth/register", "", map[string]string{"name": name, "email": addr, "password": password})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var s session
	r.JSON(t, &s)
	s.refresh = refreshCookie(t, r)
	return s
}

func TestRegisterLoginMe(t *testing.T) {
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

	r := f.Post("/v1/auth/login", "", map[string]string{"email": strings.ToUpper(addr), "password": password})
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var l session
	r.JSON(t, &l)
	if l.Workspace.ID != s.Workspace.ID {
		t.Errorf("login workspace = %s, want %s", l.Workspace.ID, s.Workspace.ID)
	}

	me := f.Get("/v1/auth/me", l.AccessToken)
	if me.Status != http.StatusOK {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
	var meBody struct {
		User       struct{ ID string }
		Workspaces []struct{ ID, Name, Slug, Role string }
	}
	me.JSON(t, &meBody)
	if meBody.User.ID != s.User.ID || len(meBody.Workspaces) != 1 || meBody.Workspaces[0].Role != "OWNER" || meBody.Workspaces[0].Slug == "" {
		t.Errorf("me = %s", me.Body)
	}

	// The same e-mail again is a conflict, and nothing new is stored.
	f.Post("/v1/auth/register", "", map[string]string{"name": "Other", "email": addr, "password": password}).
		ExpectError(t, http.StatusConflict, "CONFLICT")
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
	f := newEnv(t)
	long := strings.Repeat("x", 300)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed json", `{"name":"Ann",`, 400, "VALIDATION_ERROR", ""},
		{"wrong type", `{"name":42,"email":"a@example.com","password":"longenough"}`, 400, "VALIDATION_ERROR", "name"},
		{"short name", map[string]string{"name": "A", "email": uniqueEmail("a"), "password": password}, 400, "VALIDATION_ERROR", "name"},
		{"huge name", map[string]string{"name": long, "email": uniqueEmail("a"), "password": password}, 400, "VALIDATION_ERROR", "name"},
		{"bad email", map[string]string{"name": "Ann", "email": "not-an-email", "password": password}, 400, "VALIDATION_ERROR", "email"},
		{"huge email", map[string]string{"name": "Ann", "email": long + "@example.com", "password": password}, 400, "VALIDATION_ERROR", "email"},
		{"short password", map[string]string{"name": "Ann", "email": uniqueEmail("a"), "password": "short"}, 400, "VALIDATION_ERROR", "password"},
		{"huge password", map[string]string{"name": "Ann", "email": uniqueEmail("a"), "password": long}, 400, "VALIDATION_ERROR", "password"},
		{"empty body", "", 400, "VALIDATION_ERROR", "email"},
	}
	var before int
	_ = f.DB.Get(&before, `SELECT count(*) FROM users`)
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
	var after int
	_ = f.DB.Get(&after, `SELECT count(*) FROM users`)
	if after != before {
		t.Errorf("bad input stored %d users", after-before)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	f := newEnv(t)
	s := f.register(t, "Cara Diaz", uniqueEmail("cara"))

	// Cookie refresh rotates: a new cookie, a working access token, no token in the body.
	r1 := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{s.refresh}})
	if r1.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r1.Status, r1.Body)
	}
	if strings.Contains(string(r1.Body), "refreshToken") {
		t.Errorf("cookie refresh returned the token in the body: %s", r1.Body)
	}
	c2 := refreshCookie(t, r1)
	if c2.Value == s.refresh.Value {
		t.Fatal("refresh token was not rotated")
	}
	var tok struct{ AccessToken string }
	r1.JSON(t, &tok)
	if f.Get("/v1/auth/me", tok.AccessToken).Status != http.StatusOK {
		t.Fatal("rotated access token does not work")
	}

	// Body refresh (non-browser client) gets the new refresh token in the body.
	r2 := f.Post("/v1/auth/refresh", "", map[string]string{"refreshToken": c2.Value})
	var body struct{ AccessToken, RefreshToken string }
	r2.JSON(t, &body)
	if r2.Status != http.StatusOK || body.RefreshToken == "" || body.RefreshToken == c2.Value {
		t.Fatalf("body refresh: %d %s", r2.Status, r2.Body)
	}

	// Reusing an already-rotated token fails and revokes the whole family, so the newest
	// token, never used, is dead too.
	f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{s.refresh}}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	f.Post("/v1/auth/refresh", "", map[string]string{"refreshToken": body.RefreshToken}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	var live int
	if err := f.DB.Get(&live, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, s.User.ID); err != nil || live != 0 {
		t.Errorf("live tokens after reuse = %d (%v)", live, err)
	}

	// No token and garbage both fail cleanly.
	f.Post("/v1/auth/refresh", "", nil).ExpectError(t, http.StatusUnauthorized, "MISSING_TOKEN")
	f.Post("/v1/auth/refresh", "", map[string]string{"refreshToken": "garbage"}).ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
}

func TestLogoutRevokes(t *testing.T) {
	f := newEnv(t)
	s := f.register(t, "Dan Eve", uniqueEmail("dan"))
	r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/logout", Cookies: []*http.Cookie{s.refresh}})
	if r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if c := refreshCookie(t, r); c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("cookie not cleared: %+v", c)
	}
	f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{s.refresh}}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
}

func TestBadTokens(t *testing.T) {
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
			f.Get("/v1/auth/me", tc.token).ExpectError(t, http.StatusUnauthorized, tc.code)
		})
	}
}

func TestWorkspaceAndMembers(t *testing.T) {
	f := newEnv(t)
	owner := f.register(t, "Gail Hart", uniqueEmail("gail"))
	ws := f.Get("/v1/workspace", owner.AccessToken)
	var w struct {
		ID, Name, Slug, Plan string
		CreditBalance        int
		MemberCount          int
	}
	ws.JSON(t, &w)
	if ws.Status != 200 || w.ID != owner.Workspace.ID || w.MemberCount != 1 || w.Plan != "STARTER" {
		t.Fatalf("workspace: %d %s", ws.Status, ws.Body)
	}
	r := f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace", Token: owner.AccessToken, Body: map[string]string{"name": "Acme Support"}})
	r.JSON(t, &w)
	if r.Status != 200 || w.Name != "Acme Support" {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace", Token: owner.AccessToken, Body: map[string]string{"name": ""}}).
		ExpectError(t, 400, "VALIDATION_ERROR")

	// Invite a new person as ADMIN; the e-mail carries the accept link.
	inviteeAddr := uniqueEmail("ivan")
	inv := f.Post("/v1/workspace/invitations", owner.AccessToken, map[string]string{"email": inviteeAddr, "role": "ADMIN"})
	if inv.Status != http.StatusCreated {
		t.Fatalf("invite: %d %s", inv.Status, inv.Body)
	}
	msg := f.mail.last()
	link := msg.Secret["AcceptURL"]
	if _, inData := msg.Data["AcceptURL"]; inData {
		t.Error("the accept link (with its raw token) is in the stored template data")
	}
	if msg.Template != email.TemplateInvitation || msg.To != inviteeAddr || !strings.HasPrefix(link, "https://app.example.com/accept-invitation?token=") {
		t.Fatalf("invitation mail = %+v", msg)
	}
	token := strings.TrimPrefix(link, "https://app.example.com/accept-invitation?token=")

	// A new account needs a name and password.
	f.Post("/v1/auth/accept-invitation", "", map[string]string{"token": token}).ExpectError(t, 400, "VALIDATION_ERROR")
	acc := f.Post("/v1/auth/accept-invitation", "", map[string]string{"token": token, "name": "Ivan Ivanov", "password": password})
	if acc.Status != http.StatusOK {
		t.Fatalf("accept: %d %s", acc.Status, acc.Body)
	}
	var admin session
	acc.JSON(t, &admin)
	if admin.Workspace.ID != owner.Workspace.ID || admin.Workspace.Role != "ADMIN" {
		t.Fatalf("accepted session = %s", acc.Body)
	}
	// An invitation works once.
	f.Post("/v1/auth/accept-invitation", "", map[string]string{"token": token, "name": "Ivan", "password": password}).
		ExpectError(t, 404, "NOT_FOUND")

	// ADMIN may rename but not invite or change roles.
	f.Post("/v1/workspace/invitations", admin.AccessToken, map[string]string{"email": uniqueEmail("x"), "role": "MEMBER"}).
		ExpectError(t, 403, "FORBIDDEN")
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + owner.User.ID, Token: admin.AccessToken, Body: map[string]string{"role": "MEMBER"}}).
		ExpectError(t, 403, "FORBIDDEN")

	members := f.Get("/v1/workspace/members", admin.AccessToken)
	var ml struct {
		Items []struct{ UserID, Email, Role string }
	}
	members.JSON(t, &ml)
	if len(ml.Items) != 2 {
		t.Fatalf("members = %s", members.Body)
	}

	// Bad role and unknown member.
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + admin.User.ID, Token: owner.AccessToken, Body: map[string]string{"role": "KING"}}).
		ExpectError(t, 400, "VALIDATION_ERROR")
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + uuid.NewString(), Token: owner.AccessToken, Body: map[string]string{"role": "MEMBER"}}).
		ExpectError(t, 404, "NOT_FOUND")
	f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/not-a-uuid", Token: owner.AccessToken}).
		ExpectError(t, 404, "NOT_FOUND")

	// The last owner can be neither demoted nor removed.
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + owner.User.ID, Token: owner.AccessToken, Body: map[string]string{"role": "ADMIN"}}).
		ExpectError(t, 409, "CONFLICT")
	f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + owner.User.ID, Token: owner.AccessToken}).
		ExpectError(t, 409, "CONFLICT")

	// With a second owner, the first may step down.
	r = f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + admin.User.ID, Token: owner.AccessToken, Body: map[string]string{"role": "OWNER"}})
	if r.Status != 200 {
		t.Fatalf("promote: %d %s", r.Status, r.Body)
	}
	r = f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + owner.User.ID, Token: owner.AccessToken, Body: map[string]string{"role": "MEMBER"}})
	if r.Status != 200 {
		t.Fatalf("step down: %d %s", r.Status, r.Body)
	}

	// The promoted member's role reaches their access token at the next refresh (access
	// tokens carry the role for their 15-minute life).
	r = f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{refreshCookie(t, acc)}})
	var promoted struct{ AccessToken string }
	r.JSON(t, &promoted)

	// Removing a member revokes their refresh tokens for the workspace.
	r = f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + owner.User.ID, Token: promoted.AccessToken})
	if r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{owner.refresh}}).
		ExpectError(t, 401, "INVALID_TOKEN")
}

func TestConcurrentDemotionsKeepAnOwner(t *testing.T) {
	f := newEnv(t)
	a := f.register(t, "Hana One", uniqueEmail("hana"))
	ws := apitest.Workspace{ID: a.Workspace.ID}
	b := f.AddMember(ws, authn.RoleOwner)
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
	f := newEnv(t)
	a := f.register(t, "Iris Jay", uniqueEmail("iris"))
	other := f.NewWorkspace("STARTER", 0)
	f.Post("/v1/auth/switch-workspace", a.AccessToken, map[string]string{"workspaceId": other.ID}).ExpectError(t, 404, "NOT_FOUND")
	f.Post("/v1/auth/switch-workspace", a.AccessToken, map[string]string{"workspaceId": "nope"}).ExpectError(t, 400, "VALIDATION_ERROR")
	if _, err := f.DB.Exec(`INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, 'MEMBER')`, other.ID, a.User.ID); err != nil {
		t.Fatal(err)
	}
	r := f.Post("/v1/auth/switch-workspace", a.AccessToken, map[string]string{"workspaceId": other.ID})
	var s session
	r.JSON(t, &s)
	if r.Status != 200 || s.Workspace.ID != other.ID || s.Workspace.Role != "MEMBER" {
		t.Fatalf("switch: %d %s", r.Status, r.Body)
	}
	w := f.Get("/v1/workspace", s.AccessToken).Map(t)
	if w["id"] != other.ID {
		t.Errorf("workspace after switch = %v", w["id"])
	}
	// A MEMBER cannot rename.
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace", Token: s.AccessToken, Body: map[string]string{"name": "x"}}).
		ExpectError(t, 403, "FORBIDDEN")
}

func TestLoginRateLimit(t *testing.T) {
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
