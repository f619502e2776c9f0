package authn

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/axonhq/axon/platform/cache"
	"github.com/axonhq/axon/platform/web"
)

func TestAuthenticatedChains(t *testing.T) {
	t.Parallel()
	i := issuer(t)
	lim := cache.NewMemoryLimiter()
	e := web.New(web.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.GET("/v1/me", ok, Authenticated(i, lim)...)
	e.GET("/v1/events", ok, AuthenticatedQuery(i, lim)...)
	s := httptest.NewServer(e)
	t.Cleanup(s.Close)

	alice, _ := i.Issue(Principal{UserID: "u-alice", WorkspaceID: "w", Role: RoleMember})
	bob, _ := i.Issue(Principal{UserID: "u-bob", WorkspaceID: "w", Role: RoleMember})
	get := func(path, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	for _, tc := range []struct {
		name, path, token string
		status            int
	}{
		{"no token", "/v1/me", "", 401},
		{"header token", "/v1/me", alice, 204},
		{"query token refused by Authenticated", "/v1/me?access_token=" + alice, "", 401},
		{"query token accepted by AuthenticatedQuery", "/v1/events?access_token=" + alice, "", 204},
		{"header token on AuthenticatedQuery", "/v1/events", alice, 204},
	} {
		if got := get(tc.path, tc.token); got != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.status)
		}
	}

	// 120 requests per minute per user, across both chains: alice has used 3.
	for n := 4; n <= userLimit; n++ {
		if got := get("/v1/me", alice); got != 204 {
			t.Fatalf("request %d: status %d, want 204", n, got)
		}
	}
	if got := get("/v1/events", alice); got != http.StatusTooManyRequests {
		t.Errorf("request %d: status %d, want 429", userLimit+1, got)
	}
	if got := get("/v1/me", bob); got != 204 {
		t.Errorf("another user: status %d, want 204 (the limit is per user)", got)
	}
}
