package main

// Refresh-token reuse in the security suite. auth's own tests cover rotation, reuse of a
// rotated token (TestRefreshRotationAndReuse), reuse that kills the sessions switch-workspace
// opened from the chain (TestReuseRevokesSwitchedSessions), logout (TestLogoutRevokes) and
// removed or demoted members. What is added here: reuse in the other direction (a switched
// session's rotated token kills the session it was switched from), racing refreshes of one
// token, and switch-workspace from a session that has ended.

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/testkit"
)

func refreshWith(app *secApp, c *http.Cookie) *secRes {
	return app.do(secReq{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{c}})
}

func liveRefresh(t *testing.T, app *secApp, user string) int {
	t.Helper()
	var n int
	if err := app.env.DB.Get(&n, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, user); err != nil {
		t.Fatal(err)
	}
	return n
}

// Reuse of a token rotated in the switched-to workspace revokes the whole chain, the session
// in the workspace it was switched from included.
func TestSecurityRefreshReuseAfterSwitchRevokesTheOrigin(t *testing.T) {
	t.Parallel()
	app := newSecApp(t, nil, nil)
	a := app.register("Rita Reuse", "rita-"+uuid.NewString()[:8]+"@example.com", "")
	other := authtest.NewOwner(t, app.env.DB, nil)
	authtest.AddMember(t, app.env.DB, other.WorkspaceID, a.UserID, authn.RoleAdmin)

	var sw struct{ AccessToken string }
	res := app.must(http.StatusOK, secReq{
		Method: http.MethodPost, Path: "/v1/auth/switch-workspace", Token: a.Access,
		Body: map[string]string{"workspaceId": other.WorkspaceID},
	}, &sw)
	switched := testkit.Cookie(t, res.Header, auth.RefreshCookie)
	// Rotate the switched session once; its first token is now spent.
	res = refreshWith(app, switched)
	if res.Status != http.StatusOK {
		t.Fatalf("refresh of the switched session: %d %s", res.Status, res.Body)
	}
	rotated := testkit.Cookie(t, res.Header, auth.RefreshCookie)

	// A thief replays the spent switched token.
	expect401(t, refreshWith(app, switched), []string{"INVALID_TOKEN"}, "replayed switched token")
	for name, c := range map[string]*http.Cookie{"the origin session (never rotated)": a.Refresh, "the rotated switched session": rotated} {
		expect401(t, refreshWith(app, c), []string{"INVALID_TOKEN"}, name)
	}
	if n := liveRefresh(t, app, a.UserID); n != 0 {
		t.Errorf("live refresh tokens after reuse = %d, want 0", n)
	}
	// Neither workspace's still-valid access token can open a new session.
	for name, tok := range map[string]string{"origin": a.Access, "switched": sw.AccessToken} {
		expect401(t, app.do(secReq{
			Method: http.MethodPost, Path: "/v1/auth/switch-workspace", Token: tok,
			Body: map[string]string{"workspaceId": other.WorkspaceID},
		}), []string{"INVALID_TOKEN"}, "switch from the "+name+" access token")
	}
}

// Racing refreshes of one token: exactly one wins, and the others are reuse, so the winner's
// new token is revoked too (two live sessions from one token would be a duplicated session).
func TestSecurityConcurrentRefreshIsReuse(t *testing.T) {
	t.Parallel()
	app := newSecApp(t, nil, nil)
	a := app.register("Cody Race", "cody-"+uuid.NewString()[:8]+"@example.com", "")
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []*http.Cookie
		refused int
		other   []int
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := refreshWith(app, a.Refresh)
			mu.Lock()
			defer mu.Unlock()
			switch res.Status {
			case http.StatusOK:
				for _, c := range (&http.Response{Header: res.Header}).Cookies() {
					if c.Name == auth.RefreshCookie {
						won = append(won, c)
					}
				}
			case http.StatusUnauthorized:
				refused++
			default:
				other = append(other, res.Status)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(won) != 1 || refused != n-1 || len(other) != 0 {
		t.Fatalf("%d refreshes of one token: %d won, %d refused, others %v; want exactly one winner", n, len(won), refused, other)
	}
	expect401(t, refreshWith(app, won[0]), []string{"INVALID_TOKEN"}, "the winner's token after the others' reuse")
	if live := liveRefresh(t, app, a.UserID); live != 0 {
		t.Errorf("live refresh tokens = %d, want 0", live)
	}
}

// A session that logged out cannot come back through switch-workspace with its access
// token (still valid for its TTL), nor refresh.
func TestSecuritySwitchAfterLogout(t *testing.T) {
	t.Parallel()
	app := newSecApp(t, nil, nil)
	a := app.register("Lou Gone", "lou-"+uuid.NewString()[:8]+"@example.com", "")
	other := authtest.NewOwner(t, app.env.DB, nil)
	authtest.AddMember(t, app.env.DB, other.WorkspaceID, a.UserID, authn.RoleMember)
	app.must(http.StatusNoContent, secReq{Method: http.MethodPost, Path: "/v1/auth/logout", Cookies: []*http.Cookie{a.Refresh}}, nil)
	expect401(t, refreshWith(app, a.Refresh), []string{"INVALID_TOKEN"}, "refresh after logout")
	expect401(t, app.do(secReq{
		Method: http.MethodPost, Path: "/v1/auth/switch-workspace", Token: a.Access,
		Body: map[string]string{"workspaceId": other.WorkspaceID},
	}), []string{"INVALID_TOKEN"}, "switch-workspace after logout")
	if n := liveRefresh(t, app, a.UserID); n != 0 {
		t.Errorf("live refresh tokens after logout = %d", n)
	}
}
