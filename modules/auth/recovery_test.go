package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// outbox is an email.Sender that keeps what would have been delivered: the only place a raw
// e-mailed token exists once the request is over.
type outbox struct {
	mu   sync.Mutex
	sent []email.Rendered
}

func (o *outbox) Send(_ context.Context, r email.Rendered, _ string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, r)
	return "test", nil
}

// to returns the e-mails sent to addr with subject containing subj.
func (o *outbox) to(addr, subj string) []email.Rendered {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []email.Rendered
	for _, r := range o.sent {
		if r.To == addr && strings.Contains(r.Subject, subj) {
			out = append(out, r)
		}
	}
	return out
}

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9_-]{20,})`)

// linkToken waits for one e-mail to addr with subj and returns the token in its link.
func (o *outbox) linkToken(t *testing.T, addr, subj string) string {
	t.Helper()
	apitest.Eventually(t, 15*time.Second, func() bool { return len(o.to(addr, subj)) > 0 }, "e-mail "+subj+" to "+addr)
	got := o.to(addr, subj)
	m := tokenInLink.FindStringSubmatch(got[len(got)-1].HTML)
	if m == nil {
		t.Fatalf("no token link in %s", got[len(got)-1].HTML)
	}
	return m[1]
}

// realEnv wires auth with the real email module (sealed secrets, River jobs) and a worker.
type realEnv struct {
	*apptest.Env
	out *outbox
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	f := &realEnv{out: &outbox{}}
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Env = apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: f.out, Log: d.Log, AppURL: "https://app.example.com", Box: box})
		if err != nil {
			return nil, err
		}
		m, err := auth.New(auth.Deps{
			DB: d.DB, Queue: d.Queue, Issuer: d.Issuer, Limiter: d.Limiter, Mailer: mail.Mailer(), Log: d.Log,
			BcryptCost: 4, RefreshTTL: time.Hour, AppURL: "https://app.example.com",
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{m, mail}, nil
	})
	f.StartWorker()
	return f
}

func (f *realEnv) register(t *testing.T, name, addr string) session {
	t.Helper()
	return register(t, f.Env, name, addr)
}

func (f *realEnv) login(t *testing.T, addr, pw string) *apitest.Response {
	t.Helper()
	return f.Post("/v1/auth/login", "", map[string]string{"email": addr, "password": pw})
}

// nowhereStored fails when token appears in any e-mail row, any job's args or the log.
func nowhereStored(t *testing.T, env *apptest.Env, token string) {
	t.Helper()
	var emails, jobs string
	if err := env.DB.Get(&emails, `SELECT COALESCE(string_agg(e::text, ' '), '') FROM emails e`); err != nil {
		t.Fatal(err)
	}
	if err := env.DB.Get(&jobs, `SELECT COALESCE(string_agg(args::text, ' '), '') FROM river_job`); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(emails, token) {
		t.Error("the raw token is stored in the emails table")
	}
	if strings.Contains(jobs, token) {
		t.Error("the raw token is in a job's args")
	}
	if strings.Contains(env.LogText(), token) {
		t.Error("the raw token reached the log")
	}
}

// Not parallel: it starts a River worker, and another test's worker on the same database
// could take this test's e-mail jobs and deliver them to its own outbox.
func TestForgotAndResetPassword(t *testing.T) {
	f := newRealEnv(t)
	addr := uniqueEmail("rita")
	s := f.register(t, "Rita Reset", addr)
	// A second, independent session (another family) of the same user.
	other := f.login(t, addr, password)
	if other.Status != http.StatusOK {
		t.Fatalf("login: %d %s", other.Status, other.Body)
	}
	otherCookie := testkit.Cookie(t, other.Header, auth.RefreshCookie)

	// Known and unknown addresses get the same answer.
	unknown := uniqueEmail("nobody")
	known := f.Post("/v1/auth/forgot-password", "", map[string]string{"email": strings.ToUpper(addr)})
	nobody := f.Post("/v1/auth/forgot-password", "", map[string]string{"email": unknown})
	if known.Status != http.StatusAccepted || nobody.Status != http.StatusAccepted || string(known.Body) != string(nobody.Body) {
		t.Fatalf("forgot: known %d %s, unknown %d %s", known.Status, known.Body, nobody.Status, nobody.Body)
	}
	token := f.out.linkToken(t, addr, "Reset")
	nowhereStored(t, f.Env, token)
	var hashes int
	if err := f.DB.Get(&hashes, `SELECT count(*) FROM email_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex') AND purpose = 'RESET_PASSWORD'`, token); err != nil || hashes != 1 {
		t.Fatalf("stored reset token hashes = %d (%v)", hashes, err)
	}
	// Once sent, the sealed link is wiped from the row.
	apitest.Eventually(t, 10*time.Second, func() bool {
		var n int
		_ = f.DB.Get(&n, `SELECT count(*) FROM emails WHERE "to" = $1 AND template = 'reset_password' AND status = 'SENT' AND secret IS NULL`, addr)
		return n == 1
	}, "reset e-mail SENT with its secret wiped")
	if got := f.out.to(unknown, ""); len(got) != 0 {
		t.Errorf("an unknown address got %d e-mails", len(got))
	}

	const newPassword = "a brand new secret"
	cases := []struct {
		name   string
		body   map[string]string
		status int
		code   string
	}{
		{"short password", map[string]string{"token": token, "password": "short"}, 400, "VALIDATION_ERROR"},
		{"no token", map[string]string{"password": newPassword}, 400, "VALIDATION_ERROR"},
		{"unknown token", map[string]string{"token": "nope-" + token, "password": newPassword}, 400, "VALIDATION_ERROR"},
		{"reset", map[string]string{"token": token, "password": newPassword}, 204, ""},
		{"second use", map[string]string{"token": token, "password": "yet another secret"}, 400, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		r := f.Post("/v1/auth/reset-password", "", tc.body)
		if tc.code == "" {
			if r.Status != tc.status {
				t.Fatalf("%s: %d %s", tc.name, r.Status, r.Body)
			}
			continue
		}
		r.ExpectError(t, tc.status, tc.code)
	}

	// Every refresh family of the user is revoked; the new password works, the old does not.
	for _, c := range []*http.Cookie{s.refresh, otherCookie} {
		f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{c}}).
			ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	}
	f.login(t, addr, password).ExpectError(t, http.StatusUnauthorized, "INVALID_CREDENTIALS")
	l := f.login(t, addr, newPassword)
	if l.Status != http.StatusOK {
		t.Fatalf("login with the new password: %d %s", l.Status, l.Body)
	}
	var ls session
	l.JSON(t, &ls)
	var me struct{ User struct{ EmailVerified bool } }
	f.Get("/v1/auth/me", ls.AccessToken).JSON(t, &me)
	if !me.User.EmailVerified {
		t.Error("a reset did not mark the e-mail verified")
	}

	// An expired token fails.
	f.Post("/v1/auth/forgot-password", "", map[string]string{"email": addr})
	apitest.Eventually(t, 15*time.Second, func() bool { return len(f.out.to(addr, "Reset")) == 2 }, "second reset e-mail")
	token2 := f.out.linkToken(t, addr, "Reset")
	if _, err := f.DB.Exec(`UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256($1::bytea), 'hex')`, token2); err != nil {
		t.Fatal(err)
	}
	f.Post("/v1/auth/reset-password", "", map[string]string{"token": token2, "password": "whatever secret"}).
		ExpectError(t, 400, "VALIDATION_ERROR")
	// The reset link is valid one hour.
	var ttl float64
	_ = f.DB.Get(&ttl, `SELECT extract(epoch FROM expires_at - created_at) FROM email_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')`, token)
	if ttl < 3590 || ttl > 3610 {
		t.Errorf("reset token lifetime = %.0f s, want 3600", ttl)
	}
}

func TestForgotPasswordLimits(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	addr := uniqueEmail("lim")
	for i := 1; i <= 6; i++ {
		// Each from its own client address: the per-address limit must bite on its own.
		ip := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
		r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/forgot-password", Body: map[string]string{"email": addr}, Header: ip})
		if i <= 5 && r.Status != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		if i == 6 {
			r.ExpectError(t, http.StatusTooManyRequests, "RATE_LIMITED")
		}
	}
	// The same address in other letters is the same address; another address is not limited.
	f.Do(apitest.Req{
		Method: http.MethodPost, Path: "/v1/auth/forgot-password", Body: map[string]string{"email": strings.ToUpper(addr)},
		Header: map[string]string{"X-Forwarded-For": "198.51.100.50"},
	}).ExpectError(t, 429, "RATE_LIMITED")
	if r := f.Do(apitest.Req{
		Method: http.MethodPost, Path: "/v1/auth/forgot-password", Body: map[string]string{"email": uniqueEmail("other")},
		Header: map[string]string{"X-Forwarded-For": "198.51.100.51"},
	}); r.Status != http.StatusAccepted {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	// Per IP: 10 an hour whatever the addresses.
	ip := map[string]string{"X-Forwarded-For": "198.51.100.99"}
	for i := 1; i <= 11; i++ {
		r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/forgot-password", Body: map[string]string{"email": uniqueEmail("ip")}, Header: ip})
		if i <= 10 && r.Status != http.StatusAccepted {
			t.Fatalf("ip request %d: %d %s", i, r.Status, r.Body)
		}
		if i == 11 {
			r.ExpectError(t, 429, "RATE_LIMITED")
		}
	}
	// Bad input is a 400, never a 500.
	for name, body := range map[string]any{"bad email": map[string]string{"email": "nope"}, "malformed": `{"email":`, "empty": ""} {
		t.Run(name, func(t *testing.T) {
			f.Do(apitest.Req{
				Method: http.MethodPost, Path: "/v1/auth/forgot-password", Body: body,
				Header: map[string]string{"X-Forwarded-For": "198.51.100.200"},
			}).ExpectError(t, 400, "VALIDATION_ERROR")
		})
	}
}

// Not parallel: it starts a River worker, and another test's worker on the same database
// could take this test's e-mail jobs and deliver them to its own outbox.
func TestVerifyEmail(t *testing.T) {
	f := newRealEnv(t)
	addr := uniqueEmail("vera")
	s := f.register(t, "Vera Verify", addr)
	var me struct{ User struct{ EmailVerified bool } }
	f.Get("/v1/auth/me", s.AccessToken).JSON(t, &me)
	if me.User.EmailVerified {
		t.Fatal("a new account is verified before proving its address")
	}
	first := f.out.linkToken(t, addr, "Confirm")
	nowhereStored(t, f.Env, first)

	// Resend: a new link, and the first one stops working.
	if r := f.Post("/v1/auth/verify-email/resend", s.AccessToken, nil); r.Status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	apitest.Eventually(t, 15*time.Second, func() bool { return len(f.out.to(addr, "Confirm")) == 2 }, "second verification e-mail")
	second := f.out.linkToken(t, addr, "Confirm")
	f.Post("/v1/auth/verify-email/resend", "", nil).ExpectError(t, 401, "MISSING_TOKEN")

	f.Post("/v1/auth/verify-email", "", map[string]string{"token": first}).ExpectError(t, 400, "VALIDATION_ERROR")
	f.Post("/v1/auth/verify-email", "", map[string]string{}).ExpectError(t, 400, "VALIDATION_ERROR")
	if r := f.Post("/v1/auth/verify-email", "", map[string]string{"token": second}); r.Status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	f.Get("/v1/auth/me", s.AccessToken).JSON(t, &me)
	if !me.User.EmailVerified {
		t.Fatal("/me does not show the address verified")
	}
	f.Post("/v1/auth/verify-email", "", map[string]string{"token": second}).ExpectError(t, 400, "VALIDATION_ERROR")
	// A reset token is not a verification token (and the reverse).
	f.Post("/v1/auth/reset-password", "", map[string]string{"token": second, "password": "some new secret"}).ExpectError(t, 400, "VALIDATION_ERROR")

	// Resend for a verified address sends nothing.
	if r := f.Post("/v1/auth/verify-email/resend", s.AccessToken, nil); r.Status != http.StatusAccepted {
		t.Fatalf("resend when verified: %d %s", r.Status, r.Body)
	}
	var queued int
	_ = f.DB.Get(&queued, `SELECT count(*) FROM emails WHERE "to" = $1 AND template = 'verify_email'`, addr)
	if queued != 2 {
		t.Errorf("verification e-mails = %d, want 2", queued)
	}
}
