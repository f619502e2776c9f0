// Package authn issues and verifies HS256 access tokens (jwx) and carries the caller's
// principal through the request context. Roles are ordered MEMBER < ADMIN < OWNER.
package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Role is a workspace role.
type Role string

// The roles, lowest first.
const (
	RoleMember Role = "MEMBER"
	RoleAdmin  Role = "ADMIN"
	RoleOwner  Role = "OWNER"
)

var roleRank = map[Role]int{RoleMember: 1, RoleAdmin: 2, RoleOwner: 3}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// AtLeast reports whether r is min or higher.
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] && roleRank[r] > 0 }

// Principal is the authenticated caller of a dashboard route.
type Principal struct {
	UserID      string
	WorkspaceID string
	Role        Role
	TokenID     string
}

// Audience of widget session tokens; dashboard access tokens carry none.
const AudienceWidget = "widget"

// Errors returned by Verify.
var (
	ErrInvalidToken = errors.New("authn: invalid token")
	ErrExpiredToken = errors.New("authn: token expired")
)

// Issuer signs and verifies tokens with one HS256 secret.
type Issuer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	seen   verified // tokens that passed Verify (verified.go)
}

// tokenSkew is the clock skew accepted on exp, iat and nbf.
const tokenSkew = 5 * time.Second

// NewIssuer builds an issuer. secret must be at least 32 bytes.
func NewIssuer(secret string, ttl time.Duration) (*Issuer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("authn: JWT secret must be at least 32 bytes")
	}
	return &Issuer{secret: []byte(secret), ttl: ttl, now: time.Now}, nil
}

// TTL is the access-token lifetime.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs an access token for p with claims {sub, wid, role, iat, exp, jti}.
func (i *Issuer) Issue(p Principal) (token string, err error) {
	now := i.now()
	jti := p.TokenID
	if jti == "" {
		jti = randomID()
	}
	t, err := jwt.NewBuilder().
		Subject(p.UserID).
		IssuedAt(now).
		Expiration(now.Add(i.ttl)).
		JwtID(jti).
		Claim("wid", p.WorkspaceID).
		Claim("role", string(p.Role)).
		Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(t, jwt.WithKey(jwa.HS256, i.secret))
	return string(b), err
}

// Verify checks signature (HS256 only, so alg:none and other algorithms fail), expiry and
// audience (none for dashboard tokens) and returns the principal.
func (i *Issuer) Verify(token string) (Principal, error) {
	if p, seen, live := i.seen.get(token, i.now()); seen {
		if !live {
			return Principal{}, ErrExpiredToken
		}
		return p, nil
	}
	t, err := i.parse(token)
	if err != nil {
		return Principal{}, err
	}
	if len(t.Audience()) != 0 {
		return Principal{}, ErrInvalidToken
	}
	wid, _ := t.PrivateClaims()["wid"].(string)
	role, _ := t.PrivateClaims()["role"].(string)
	p := Principal{UserID: t.Subject(), WorkspaceID: wid, Role: Role(role), TokenID: t.JwtID()}
	if p.UserID == "" || p.WorkspaceID == "" || !p.Role.Valid() {
		return Principal{}, ErrInvalidToken
	}
	if exp := t.Expiration(); !exp.IsZero() {
		i.seen.put(token, p, exp, i.now())
	}
	return p, nil
}

// WidgetClaims identify a widget visitor session.
type WidgetClaims struct {
	AgentID        string
	WorkspaceID    string
	ConversationID string
	VisitorID      string
}

// IssueWidget signs a 24 h widget session token (aud "widget").
func (i *Issuer) IssueWidget(c WidgetClaims, ttl time.Duration) (string, error) {
	now := i.now()
	t, err := jwt.NewBuilder().
		Subject(c.VisitorID).
		Audience([]string{AudienceWidget}).
		IssuedAt(now).
		Expiration(now.Add(ttl)).
		JwtID(randomID()).
		Claim("aid", c.AgentID).
		Claim("wid", c.WorkspaceID).
		Claim("cid", c.ConversationID).
		Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(t, jwt.WithKey(jwa.HS256, i.secret))
	return string(b), err
}

// VerifyWidget checks a widget session token.
func (i *Issuer) VerifyWidget(token string) (WidgetClaims, error) {
	t, err := i.parse(token, jwt.WithAudience(AudienceWidget))
	if err != nil {
		return WidgetClaims{}, err
	}
	pc := t.PrivateClaims()
	c := WidgetClaims{VisitorID: t.Subject()}
	c.AgentID, _ = pc["aid"].(string)
	c.WorkspaceID, _ = pc["wid"].(string)
	c.ConversationID, _ = pc["cid"].(string)
	if c.AgentID == "" || c.WorkspaceID == "" || c.ConversationID == "" {
		return WidgetClaims{}, ErrInvalidToken
	}
	return c, nil
}

func (i *Issuer) parse(token string, extra ...jwt.ParseOption) (jwt.Token, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 4096 || !signedHS256(token) {
		return nil, ErrInvalidToken
	}
	opts := append([]jwt.ParseOption{
		jwt.WithKey(jwa.HS256, i.secret),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(i.now)),
		jwt.WithAcceptableSkew(tokenSkew),
	}, extra...)
	t, err := jwt.ParseString(token, opts...)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired()) {
			return nil, ErrExpiredToken
		}
		return nil, ErrInvalidToken
	}
	return t, nil
}

// signedHS256 reports whether the token's protected header names HS256, exactly as Issue
// writes it. jwx verifies with the key's algorithm whatever the header says, so without this
// a token whose header claims "none", "RS256" or anything else but whose signature is the
// HMAC of the secret would pass: no token of ours says so, and none should be believed.
func signedHS256(token string) bool {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(raw, &h) == nil && h.Alg == string(jwa.HS256)
}

type ctxKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of an authenticated request.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
