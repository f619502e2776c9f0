package authn

import (
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// A remembered token answers what Verify answers: the same principal while it lives,
// ErrExpiredToken once the issuer's clock passes its expiry (plus the skew), and a tampered
// copy is a different string that is verified (and refused) on its own.
func TestVerifyRemembersOnlyWhatItVerified(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	i.now = func() time.Time { return time.Unix(0, now.Load()) }
	alice := Principal{UserID: "u-1", WorkspaceID: "w-1", Role: RoleAdmin, TokenID: "j-1"}
	tok, err := i.Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if p, err := i.Verify(tok); err != nil || p != alice {
			t.Fatalf("Verify: %+v %v", p, err)
		}
	}
	if _, seen, _ := i.seen.get(tok, i.now()); !seen {
		t.Fatal("a verified token was not remembered")
	}
	tampered := tok[:len(tok)-2] + "AA"
	if _, err := i.Verify(tampered); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered copy of a remembered token: %v", err)
	}
	now.Add(int64(15*time.Minute + tokenSkew + time.Second))
	if _, err := i.Verify(tok); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("remembered token past its expiry: %v, want ErrExpiredToken", err)
	}
}

// The memory is bounded: past verifiedCap entries it drops the expired ones, or starts over.
func TestVerifiedIsBounded(t *testing.T) {
	t.Parallel()
	var v verified
	now := time.Now()
	for n := range verifiedCap + 10 {
		v.put(string(rune(n))+"-token", Principal{UserID: "u"}, now.Add(time.Minute), now)
	}
	if len(v.m) > verifiedCap {
		t.Fatalf("%d entries, cap %d", len(v.m), verifiedCap)
	}
}

// UserPrelimit keys on the user of a valid Authorization bearer token and on nothing else.
func TestUserPrelimitKey(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	tok, _ := i.Issue(Principal{UserID: "u-7", WorkspaceID: "w-1", Role: RoleMember})
	widget, _ := i.IssueWidget(WidgetClaims{AgentID: "a", WorkspaceID: "w-1", ConversationID: "c", VisitorID: "v"}, time.Hour)
	pre := UserPrelimit(i)
	if pre.Name != "user" || pre.Limit != 120 || pre.Window != time.Minute {
		t.Fatalf("prelimit %+v, want user 120/min (the chain's limit)", pre)
	}
	for header, want := range map[string]string{
		"Bearer " + tok:         "u-7",
		"":                      "",
		"Bearer garbage":        "",
		"Bearer " + widget:      "",
		"Basic " + tok:          "",
		"Bearer " + tok + "tam": "",
	} {
		req := httptest.NewRequest("GET", "/v1/auth/me", nil)
		if header != "" {
			req.Header.Set(echo.HeaderAuthorization, header)
		}
		if got := pre.Key(echo.New().NewContext(req, httptest.NewRecorder())); got != want {
			t.Errorf("Authorization %.20q…: key %q, want %q", header, got, want)
		}
	}
}
