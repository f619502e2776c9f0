package main

// JWT attacks of the security suite, through the whole application: forged, confused,
// stale, tampered and misplaced tokens on a dashboard route, on the SSE route's
// ?access_token=, on every dashboard route of the tenant matrix, and on the widget routes.
// Every one is 401 with the contract's error shape. platform/authn's TestVerifyRejects
// covers the verifier alone; these go through the middleware chains each module mounts.
//
// Axon signs with one HS256 secret and has no asymmetric key, so "HS/RS confusion" is tried
// both ways an attacker can: a token labelled RS256 (and ES256, PS256) but HMAC-signed with
// the real secret, and a token RS256-signed with the attacker's own key pair that carries
// that public key in its header (jwk) or points to it (jku, x5u).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/billing/billingtest"
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64url(b)
}

// forge builds header.payload.signature with sign over the signing input (nil: empty).
func forge(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, claims)
	sig := ""
	if sign != nil {
		sig = b64url(sign([]byte(input)))
	}
	return input + "." + sig
}

// hs signs with HMAC over newHash.
func hs(secret []byte, newHash func() hash.Hash) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(newHash, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func es256(key *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func rsaJWK(pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "n": b64url(pub.N.Bytes()), "e": b64url(big.NewInt(int64(pub.E)).Bytes()), "kid": "attacker"}
}

// jwtCase is one forged token and the code it must get.
type jwtCase struct {
	name   string
	header string // the whole Authorization header ("" sends none)
	codes  []string
}

func TestSecurityJWTAttacks(t *testing.T) {
	t.Parallel()
	app := newSecApp(t, nil, nil)
	secret := []byte(app.env.Deps.Config.JWTSecret)
	f := newMatrixFixture(t, app)
	if err := billingtest.SetPlan(t.Context(), app.env.DB, f.a.WorkspaceID, "PRO"); err != nil {
		t.Fatal(err)
	}
	agentA := f.ids[kAgent][0]
	// A's own widget session (a legitimate widget token), and a second agent of A.
	var sess struct{ SessionToken, ConversationID string }
	app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/widget/" + agentA + "/sessions", Body: map[string]any{}}, &sess)
	var other struct{ ID string }
	app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/agents", Token: f.a.Access, Body: map[string]any{
		"name": "Second", "systemPrompt": "Second agent.",
	}}, &other)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dash := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"sub": f.a.UserID, "wid": f.a.WorkspaceID, "role": "OWNER",
			"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "jti": uuid.NewString(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	widget := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"sub": "v_attacker-visitor-id", "aud": []string{"widget"}, "aid": agentA, "wid": f.a.WorkspaceID,
			"cid": sess.ConversationID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": uuid.NewString(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	withSecret := hs(secret, sha256.New)
	otherSecret := hs([]byte("attacker-chosen-secret-attacker-chosen-secret"), sha256.New)
	hs512 := hs(secret, sha512.New)
	invalid := []string{"INVALID_TOKEN"}
	missing := []string{"MISSING_TOKEN"}
	either := []string{"MISSING_TOKEN", "INVALID_TOKEN"}

	// forged builds the attacks on one kind of token (claims).
	forged := func(claims func(func(map[string]any)) map[string]any, legit string, tamper func(map[string]any)) []jwtCase {
		parts := strings.Split(legit, ".")
		var legitClaims map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &legitClaims)
		tamper(legitClaims)
		bearer := func(tok string) string { return "Bearer " + tok }
		return []jwtCase{
			{"alg none", bearer(forge(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), nil)), invalid},
			{"alg None", bearer(forge(t, map[string]any{"alg": "None"}, claims(nil), nil)), invalid},
			{"alg NONE with a signature", bearer(forge(t, map[string]any{"alg": "NONE"}, claims(nil), withSecret)), invalid},
			{"no alg", bearer(forge(t, map[string]any{"typ": "JWT"}, claims(nil), withSecret)), invalid},
			{"HS256 with another secret", bearer(forge(t, hs256, claims(nil), otherSecret)), invalid},
			{"HS512 with the real secret", bearer(forge(t, map[string]any{"alg": "HS512"}, claims(nil), hs512)), invalid},
			{"RS256 label, HMAC with the real secret", bearer(forge(t, map[string]any{"alg": "RS256"}, claims(nil), withSecret)), invalid},
			{"ES256 label, HMAC with the real secret", bearer(forge(t, map[string]any{"alg": "ES256"}, claims(nil), withSecret)), invalid},
			{"PS256 label, HMAC with the real secret", bearer(forge(t, map[string]any{"alg": "PS256"}, claims(nil), withSecret)), invalid},
			{"RS256 with the attacker's key in jwk", bearer(forge(t, map[string]any{"alg": "RS256", "jwk": rsaJWK(&rsaKey.PublicKey)}, claims(nil), rs256(rsaKey))), invalid},
			{"RS256 with the attacker's jku", bearer(forge(t, map[string]any{"alg": "RS256", "jku": "https://attacker.example/jwks.json", "kid": "attacker"}, claims(nil), rs256(rsaKey))), invalid},
			{"RS256 with the attacker's x5u", bearer(forge(t, map[string]any{"alg": "RS256", "x5u": "https://attacker.example/cert.pem"}, claims(nil), rs256(rsaKey))), invalid},
			{"ES256 with the attacker's key", bearer(forge(t, map[string]any{"alg": "ES256"}, claims(nil), es256(ecKey))), invalid},
			{"kid pointing at a file", bearer(forge(t, map[string]any{"alg": "HS256", "kid": "../../../../dev/null"}, claims(nil), hs([]byte{}, sha256.New))), invalid},
			{"crit header", bearer(forge(t, map[string]any{"alg": "HS256", "crit": []string{"exp"}}, claims(nil), otherSecret)), invalid},
			{"expired", bearer(forge(t, hs256, claims(func(c map[string]any) {
				c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
			}), withSecret)), invalid},
			{"not yet valid (nbf)", bearer(forge(t, hs256, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), withSecret)), invalid},
			{"issued in the future (iat)", bearer(forge(t, hs256, claims(func(c map[string]any) {
				c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
			}), withSecret)), invalid},
			{"tampered payload, original signature", bearer(parts[0] + "." + b64json(t, legitClaims) + "." + parts[2]), invalid},
			{"signature stripped", bearer(parts[0] + "." + parts[1] + "."), invalid},
			{"signature of another token", bearer(parts[0] + "." + parts[1] + "." + strings.Split(f.b.Access, ".")[2]), invalid},
			{"two tokens", "Bearer " + legit + " " + legit, invalid},
			{"no header", "", missing},
			{"Bearer without a token", "Bearer ", missing},
			{"Basic credentials", "Basic " + base64.StdEncoding.EncodeToString([]byte(f.a.Email+":"+secPassword)), missing},
			{"token without scheme", legit, missing},
			{"garbage", "Bearer !!!.???.***", invalid},
			{"one segment", "Bearer abc", invalid},
			{"five segments (JWE shape)", "Bearer a.b.c.d.e", invalid},
			{"huge", "Bearer " + strings.Repeat("A", 8000), either},
			{"non-ASCII", "Bearer tøken.ünïcode.sïg", invalid},
		}
	}

	// Dashboard: /v1/auth/me (header) and /v1/events (?access_token=, SSE).
	dashCases := forged(dash, f.a.Access, func(c map[string]any) { c["wid"] = f.b.WorkspaceID })
	dashCases = append(dashCases,
		jwtCase{"a widget session token (aud widget)", "Bearer " + sess.SessionToken, invalid},
		jwtCase{"dashboard claims with aud widget, forged", "Bearer " + forge(t, hs256, dash(func(c map[string]any) { c["aud"] = []string{"widget"} }), otherSecret), invalid},
		jwtCase{"widget claims, no role, real secret label none", "Bearer " + forge(t, map[string]any{"alg": "none"}, widget(nil), nil), invalid},
	)
	for _, tc := range dashCases {
		t.Run("dashboard/"+tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			expect401(t, app.do(secReq{Path: "/v1/auth/me", Header: h}), tc.codes)
			if tok, ok := strings.CutPrefix(tc.header, "Bearer "); ok && tok != "" && !strings.Contains(tok, " ") {
				expect401(t, app.do(secReq{Path: "/v1/events?access_token=" + tok}), tc.codes)
			}
		})
	}

	// Widget routes of A's agent.
	widgetCases := forged(widget, sess.SessionToken, func(c map[string]any) { c["cid"] = f.ids[kConversation][0] })
	otherAgentTok := struct{ SessionToken string }{}
	app.must(http.StatusCreated, secReq{Method: http.MethodPost, Path: "/v1/widget/" + other.ID + "/sessions", Body: map[string]any{}}, &otherAgentTok)
	widgetCases = append(widgetCases,
		jwtCase{"a dashboard access token", "Bearer " + f.a.Access, invalid},
		jwtCase{"B's widget token (another workspace's agent)", "Bearer " + f.widgetB, invalid},
		jwtCase{"a token of another agent of the same workspace", "Bearer " + otherAgentTok.SessionToken, invalid},
		jwtCase{"widget claims without aud, forged", "Bearer " + forge(t, hs256, widget(func(c map[string]any) { delete(c, "aud") }), otherSecret), invalid},
	)
	widgetReqs := []secReq{
		{Method: http.MethodPost, Path: "/v1/widget/" + agentA + "/messages", Body: map[string]any{"content": "forged hello"}},
		{Path: "/v1/widget/" + agentA + "/messages"},
		{Path: "/v1/widget/" + agentA + "/events"},
	}
	for _, tc := range widgetCases {
		t.Run("widget/"+tc.name, func(t *testing.T) {
			for _, r := range widgetReqs {
				r.Header = map[string]string{}
				if tc.header != "" {
					r.Header["Authorization"] = tc.header
				}
				expect401(t, app.do(r), tc.codes)
			}
		})
	}
	// The legitimate token works (so the 401s above are the attacks', not a broken set-up).
	app.must(http.StatusOK, secReq{Path: "/v1/widget/" + agentA + "/messages", Token: sess.SessionToken}, nil)
	app.must(http.StatusOK, secReq{Path: "/v1/auth/me", Token: f.a.Access}, nil)

	// Every dashboard route of the matrix refuses a widget token, an alg:none token and an
	// expired one before it reads an id.
	sweep := map[string]string{
		"widget token": sess.SessionToken,
		"alg none":     forge(t, map[string]any{"alg": "none"}, dash(nil), nil),
		"expired": forge(t, hs256, dash(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
		}), withSecret),
	}
	before := fingerprint(t, app, f.a.WorkspaceID, f.aMembers)
	routes := 0
	for _, route := range routeTable(app) {
		m, ok := securityMatrix[route]
		if !ok || m.exempt != "" || m.as != asOwnerB || !strings.Contains(route, " /v1/") || dashPublic[route] {
			continue
		}
		routes++
		for _, c := range f.calls(t, route, m)[:1] {
			for name, tok := range sweep {
				r := c.req
				r.Token = tok
				expect401(t, app.do(r), invalid, route+" with a "+name)
			}
		}
	}
	if routes < 40 {
		t.Fatalf("the sweep reached only %d dashboard routes", routes)
	}
	t.Logf("%d dashboard routes × %d forged tokens; %d dashboard and %d widget attacks", routes, len(sweep), len(dashCases), len(widgetCases))
	after := fingerprint(t, app, f.a.WorkspaceID, f.aMembers)
	for table, was := range before {
		if after[table] != was {
			t.Errorf("workspace A's %s changed under forged tokens", table)
		}
	}
}

// dashPublic are /v1 routes of the matrix that take no access token (their own credential
// or none).
var dashPublic = map[string]bool{
	"POST /v1/auth/register": true, "POST /v1/auth/login": true, "POST /v1/auth/refresh": true,
	"POST /v1/auth/logout": true, "POST /v1/auth/accept-invitation": true, "POST /v1/auth/forgot-password": true,
	"POST /v1/auth/reset-password": true, "POST /v1/auth/verify-email": true,
}

func expect401(t *testing.T, res *secRes, codes []string, what ...string) {
	t.Helper()
	w := strings.Join(what, " ")
	if res.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401: %.200s", w, res.Status, res.Body)
		return
	}
	var e struct {
		Error      string `json:"error"`
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
	}
	if err := json.Unmarshal(res.Body, &e); err != nil || e.Message == "" || e.StatusCode != 401 {
		t.Errorf("%s: not the error shape: %s", w, res.Body)
	}
	for _, c := range codes {
		if e.Error == c {
			return
		}
	}
	t.Errorf("%s: code %q, want one of %v", w, e.Error, codes)
}
