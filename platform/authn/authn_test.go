package authn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/axonhq/axon/platform/web"
)

const secret = "authn-test-secret-0123456789-0123456789"

func issuer(t *testing.T) *Issuer {
	t.Helper()
	i, err := NewIssuer(secret, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

var alice = Principal{UserID: "u-1", WorkspaceID: "w-1", Role: RoleAdmin}

func TestNewIssuerRejectsShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := NewIssuer("short", time.Minute); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	tok, err := i.Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	p, err := i.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != alice.UserID || p.WorkspaceID != alice.WorkspaceID || p.Role != alice.Role || p.TokenID == "" {
		t.Fatalf("Verify = %+v", p)
	}
	// The claims are exactly the contract's {sub, wid, role, iat, exp, jti}, signed HS256.
	hdr, claims := decode(t, tok)
	if hdr["alg"] != "HS256" {
		t.Errorf("alg = %v", hdr["alg"])
	}
	for _, k := range []string{"sub", "wid", "role", "iat", "exp", "jti"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 900 {
		t.Errorf("exp - iat = %v, want the 15 min TTL", exp-iat)
	}
	// An explicit token id is kept.
	withID := alice
	withID.TokenID = "jti-7"
	tok, _ = i.Issue(withID)
	if p, _ := i.Verify(tok); p.TokenID != "jti-7" {
		t.Errorf("TokenID = %q", p.TokenID)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	good, err := i.Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	_, claims := decode(t, good)

	// Payload changed to OWNER, original signature kept.
	claims["role"] = "OWNER"
	tamperedPayload := parts[0] + "." + b64(t, claims) + "." + parts[2]
	// One signature character flipped.
	sig := []byte(parts[2])
	sig[5] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)
	// Signed with another secret.
	other, _ := NewIssuer("another-secret-another-secret-0123456789", time.Minute)
	foreign, _ := other.Issue(alice)
	// alg:none, crafted by hand.
	none := b64(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "."
	noneUpper := b64(t, map[string]any{"alg": "None"}) + "." + parts[1] + "."
	// HS512 with the same secret: only HS256 is accepted.
	hs512 := signWith(t, jwa.HS512, map[string]any{"sub": "u-1", "wid": "w-1", "role": "OWNER"})
	// The right HMAC-SHA256 signature under a header that names another algorithm: jwx
	// verifies with the key's algorithm whatever the header says, so Verify checks it.
	relabel := func(alg string) string {
		in := b64(t, map[string]any{"alg": alg, "typ": "JWT"}) + "." + parts[1]
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	if _, err := i.Verify(relabel("HS256")); err != nil {
		t.Fatalf("relabel is broken: the HS256 original fails: %v", err)
	}
	// HS256 with the right secret but missing claims.
	noRole := signWith(t, jwa.HS256, map[string]any{"sub": "u-1", "wid": "w-1"})
	badRole := signWith(t, jwa.HS256, map[string]any{"sub": "u-1", "wid": "w-1", "role": "ROOT"})
	noWorkspace := signWith(t, jwa.HS256, map[string]any{"sub": "u-1", "role": "OWNER"})
	// Issued an hour ago with a 15 min TTL.
	past := issuer(t)
	past.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _ := past.Issue(alice)
	// Issued in the future (not yet valid beyond the skew).
	future := issuer(t)
	future.now = func() time.Time { return time.Now().Add(time.Hour) }
	notYet, _ := future.Issue(alice)
	// A widget token is not an access token.
	widget, _ := i.IssueWidget(WidgetClaims{AgentID: "a", WorkspaceID: "w-1", ConversationID: "c", VisitorID: "v"}, time.Hour)

	cases := map[string]string{
		"empty":               "",
		"garbage":             "not.a.jwt",
		"tampered payload":    tamperedPayload,
		"tampered sig":        tamperedSig,
		"other secret":        foreign,
		"alg none":            none,
		"alg None":            noneUpper,
		"HS512":               hs512,
		"no role":             noRole,
		"unknown role":        badRole,
		"no workspace":        noWorkspace,
		"expired":             expired,
		"not yet valid":       notYet,
		"widget token":        widget,
		"HMAC labelled none":  relabel("none"),
		"HMAC labelled NONE":  relabel("NONE"),
		"HMAC labelled RS256": relabel("RS256"),
		"HMAC labelled hs256": relabel("hs256"),
		"HMAC without alg":    relabel(""),
		"huge":                strings.Repeat("a", 5000),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := i.Verify(tok)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", p)
			}
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrExpiredToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken or ErrExpiredToken", err)
			}
		})
	}
	if _, err := i.Verify(expired); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired token: %v, want ErrExpiredToken", err)
	}
	if _, err := i.Verify(none); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("alg none: %v, want ErrInvalidToken", err)
	}
}

func TestWidgetTokens(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	wc := WidgetClaims{AgentID: "a-1", WorkspaceID: "w-1", ConversationID: "c-1", VisitorID: "v-1"}
	tok, err := i.IssueWidget(wc, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := i.VerifyWidget(tok)
	if err != nil || got != wc {
		t.Fatalf("VerifyWidget = %+v, %v", got, err)
	}
	dash, _ := i.Issue(alice)
	if _, err := i.VerifyWidget(dash); err == nil {
		t.Fatal("a dashboard token was accepted as a widget token")
	}
	past := issuer(t)
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, _ := past.IssueWidget(wc, time.Hour)
	if _, err := i.VerifyWidget(old); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("expired widget token: %v", err)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r, min Role
		ok     bool
	}{
		{RoleMember, RoleMember, true},
		{RoleMember, RoleAdmin, false},
		{RoleMember, RoleOwner, false},
		{RoleAdmin, RoleMember, true},
		{RoleAdmin, RoleAdmin, true},
		{RoleAdmin, RoleOwner, false},
		{RoleOwner, RoleMember, true},
		{RoleOwner, RoleAdmin, true},
		{RoleOwner, RoleOwner, true},
		{Role("ROOT"), RoleMember, false},
		{Role(""), RoleMember, false},
	}
	for _, c := range cases {
		if got := c.r.AtLeast(c.min); got != c.ok {
			t.Errorf("%q.AtLeast(%q) = %v", c.r, c.min, got)
		}
	}
}

// server mounts the middleware on a real echo stack with the contract's error handler.
func server(t *testing.T, i *Issuer) *httptest.Server {
	t.Helper()
	e := web.New(web.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g := e.Group("/v1", Middleware(i, false))
	g.GET("/me", func(c echo.Context) error {
		p := MustGet(c)
		q, _ := FromContext(c.Request().Context())
		if q != p {
			t.Errorf("context principal %+v != echo principal %+v", q, p)
		}
		return c.JSON(http.StatusOK, map[string]string{"user": p.UserID, "role": string(p.Role)})
	})
	g.GET("/member", ok, RequireRole(RoleMember))
	g.GET("/admin", ok, RequireRole(RoleAdmin))
	g.GET("/owner", ok, RequireRole(RoleOwner))
	e.GET("/stream", ok, Middleware(i, true))
	e.GET("/open-admin", ok, RequireRole(RoleAdmin)) // without Middleware
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)
	return s
}

func ok(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

func TestMiddleware(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	s := server(t, i)
	member, _ := i.Issue(Principal{UserID: "u-m", WorkspaceID: "w", Role: RoleMember})
	admin, _ := i.Issue(Principal{UserID: "u-a", WorkspaceID: "w", Role: RoleAdmin})
	owner, _ := i.Issue(Principal{UserID: "u-o", WorkspaceID: "w", Role: RoleOwner})
	past := issuer(t)
	past.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _ := past.Issue(alice)
	none := b64(t, map[string]any{"alg": "none"}) + "." + strings.Split(owner, ".")[1] + "."

	cases := []struct {
		name, path, auth string
		status           int
		code             string
	}{
		{"no header", "/v1/me", "", 401, "MISSING_TOKEN"},
		{"not bearer", "/v1/me", "Basic dXNlcjpwdw==", 401, "MISSING_TOKEN"},
		{"empty bearer", "/v1/me", "Bearer ", 401, "MISSING_TOKEN"},
		{"garbage", "/v1/me", "Bearer abc.def.ghi", 401, "INVALID_TOKEN"},
		{"alg none", "/v1/me", "Bearer " + none, 401, "INVALID_TOKEN"},
		{"expired", "/v1/me", "Bearer " + expired, 401, "INVALID_TOKEN"},
		{"valid", "/v1/me", "Bearer " + admin, 200, ""},
		{"lower-case scheme", "/v1/me", "bearer " + admin, 200, ""},
		{"member on member route", "/v1/member", "Bearer " + member, 204, ""},
		{"member on admin route", "/v1/admin", "Bearer " + member, 403, "FORBIDDEN"},
		{"admin on admin route", "/v1/admin", "Bearer " + admin, 204, ""},
		{"admin on owner route", "/v1/owner", "Bearer " + admin, 403, "FORBIDDEN"},
		{"owner on owner route", "/v1/owner", "Bearer " + owner, 204, ""},
		{"owner on member route", "/v1/member", "Bearer " + owner, 204, ""},
		{"query token where allowed", "/stream?access_token=" + member, "", 204, ""},
		{"query token where not allowed", "/v1/me?access_token=" + member, "", 401, "MISSING_TOKEN"},
		{"RequireRole without Middleware", "/open-admin", "", 401, "MISSING_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.code == "" {
				return
			}
			var body struct {
				Error      string `json:"error"`
				Message    string `json:"message"`
				StatusCode int    `json:"statusCode"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.Error != tc.code || body.StatusCode != tc.status || body.Message == "" {
				t.Fatalf("body %+v, want %s", body, tc.code)
			}
		})
	}
}

func decode(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func b64(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func signWith(t *testing.T, alg jwa.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	b := jwt.NewBuilder().IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour))
	for k, v := range claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Sign(tok, jwt.WithKey(alg, []byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}
