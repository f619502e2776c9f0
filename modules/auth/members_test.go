package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/auth/authtest"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// inviteToken invites addr to the caller's workspace and returns the raw token of the link.
func (f *fixture) inviteToken(t *testing.T, token, addr, role string) (id, raw string) {
	t.Helper()
	r := f.Post("/v1/workspace/invitations", token, map[string]string{"email": addr, "role": role})
	if r.Status != http.StatusCreated {
		t.Fatalf("invite: %d %s", r.Status, r.Body)
	}
	var body struct{ Invitation struct{ ID string } }
	r.JSON(t, &body)
	link := f.mail.last().Secret["AcceptURL"]
	_, raw, _ = strings.Cut(link, "?token=")
	return body.Invitation.ID, raw
}

func (f *fixture) liveRefresh(t *testing.T, userID string) int {
	t.Helper()
	var n int
	if err := f.DB.Get(&n, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`, userID); err != nil {
		t.Fatal(err)
	}
	return n
}

// An invitation for an address that has an account never signs into it by the token alone.
func TestInvitationCannotTakeOverAnAccount(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	victimAddr := uniqueEmail("victim")
	victim := f.register(t, "Victor Tim", victimAddr)
	attacker := f.register(t, "Mallory Evil", uniqueEmail("mallory"))
	_, token := f.inviteToken(t, attacker.AccessToken, victimAddr, "MEMBER")
	before := f.liveRefresh(t, victim.User.ID)

	cases := []struct {
		name   string
		bearer string
		body   map[string]string
	}{
		{"token only", "", map[string]string{"token": token}},
		{"token with a new password", "", map[string]string{"token": token, "name": "Victor", "password": "attacker chosen pw"}},
		{"attacker's session", attacker.AccessToken, map[string]string{"token": token}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.Post("/v1/auth/accept-invitation", tc.bearer, tc.body)
			m := r.ExpectError(t, http.StatusConflict, "LOGIN_REQUIRED")
			if msg, _ := m["message"].(string); !strings.Contains(msg, "sign in") {
				t.Errorf("message %q does not tell the client to sign in", msg)
			}
			if r.Header.Get("Set-Cookie") != "" || strings.Contains(string(r.Body), "accessToken") {
				t.Error("tokens were issued")
			}
		})
	}
	if after := f.liveRefresh(t, victim.User.ID); after != before {
		t.Errorf("victim's live refresh tokens %d → %d", before, after)
	}
	var isMember bool
	_ = f.DB.Get(&isMember, `SELECT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1 AND user_id = $2)`, attacker.Workspace.ID, victim.User.ID)
	if isMember {
		t.Fatal("the victim was added to the attacker's workspace without their session")
	}
	f.Post("/v1/auth/accept-invitation", "garbage", map[string]string{"token": token}).ExpectError(t, 401, "INVALID_TOKEN")

	// From the victim's own session the invitation is accepted, and the address is proven.
	r := f.Post("/v1/auth/accept-invitation", victim.AccessToken, map[string]string{"token": token})
	if r.Status != http.StatusOK {
		t.Fatalf("accept from the account's session: %d %s", r.Status, r.Body)
	}
	var s session
	r.JSON(t, &s)
	if s.User.ID != victim.User.ID || s.Workspace.ID != attacker.Workspace.ID || s.Workspace.Role != "MEMBER" {
		t.Fatalf("accepted session = %s", r.Body)
	}
	var verified bool
	_ = f.DB.Get(&verified, `SELECT email_verified FROM users WHERE id = $1`, victim.User.ID)
	if !verified {
		t.Error("accepting the invitation did not mark the address verified")
	}
	// The new session joined the victim's token family.
	var accepted int
	_ = f.DB.Get(&accepted, `SELECT count(*) FROM refresh_tokens r WHERE r.user_id = $1 AND r.workspace_id = $2
		AND r.family_id IN (SELECT family_id FROM refresh_tokens WHERE user_id = $1 AND workspace_id = $3)`,
		victim.User.ID, attacker.Workspace.ID, victim.Workspace.ID)
	if accepted != 1 {
		t.Errorf("accepted session's token is not in the victim's family (matches %d)", accepted)
	}

	// A new address creates an e-mail-verified account.
	newAddr := uniqueEmail("newbie")
	_, token2 := f.inviteToken(t, attacker.AccessToken, newAddr, "ADMIN")
	r = f.Post("/v1/auth/accept-invitation", "", map[string]string{"token": token2, "name": "New Bie", "password": password})
	if r.Status != http.StatusOK {
		t.Fatalf("accept for a new address: %d %s", r.Status, r.Body)
	}
	var created session
	r.JSON(t, &created)
	var me struct{ User struct{ EmailVerified bool } }
	f.Get("/v1/auth/me", created.AccessToken).JSON(t, &me)
	if !me.User.EmailVerified {
		t.Error("an account created from an invitation is not e-mail-verified")
	}
}

// A demoted owner's still-valid OWNER access token is refused by every owner action.
func TestDemotedOwnerTokenIsRefused(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Olga Owner", uniqueEmail("olga"))
	b := authtest.NewMember(t, f.DB, f.Deps.Issuer, a.Workspace.ID, authn.RoleOwner)
	invID, _ := f.inviteToken(t, a.AccessToken, uniqueEmail("pending"), "MEMBER")
	r := f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + b.UserID, Token: a.AccessToken, Body: map[string]string{"role": "MEMBER"}})
	if r.Status != http.StatusOK {
		t.Fatalf("demote: %d %s", r.Status, r.Body)
	}
	// b.Token still says OWNER.
	cases := []struct {
		name string
		req  apitest.Req
	}{
		{"promote self back", apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + b.UserID, Body: map[string]string{"role": "OWNER"}}},
		{"demote the other owner", apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + a.User.ID, Body: map[string]string{"role": "MEMBER"}}},
		{"remove the other owner", apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + a.User.ID}},
		{"invite", apitest.Req{Method: http.MethodPost, Path: "/v1/workspace/invitations", Body: map[string]string{"email": uniqueEmail("x"), "role": "OWNER"}}},
		{"list invitations", apitest.Req{Method: http.MethodGet, Path: "/v1/workspace/invitations"}},
		{"delete invitation", apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/invitations/" + invID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Token = b.Token
			f.Do(tc.req).ExpectError(t, http.StatusForbidden, "FORBIDDEN")
		})
	}
	var role string
	_ = f.DB.Get(&role, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, a.Workspace.ID, b.UserID)
	var owners, invites int
	_ = f.DB.Get(&owners, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'OWNER'`, a.Workspace.ID)
	_ = f.DB.Get(&invites, `SELECT count(*) FROM invitations WHERE workspace_id = $1`, a.Workspace.ID)
	if role != "MEMBER" || owners != 1 || invites != 1 {
		t.Errorf("after refused actions: b is %s, owners %d, invitations %d", role, owners, invites)
	}

	// A removed owner's token is refused too.
	c := authtest.NewMember(t, f.DB, f.Deps.Issuer, a.Workspace.ID, authn.RoleOwner)
	if r := f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + c.UserID, Token: a.AccessToken}); r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	f.Post("/v1/workspace/invitations", c.Token, map[string]string{"email": uniqueEmail("y"), "role": "MEMBER"}).
		ExpectError(t, http.StatusForbidden, "FORBIDDEN")
	f.Do(apitest.Req{Method: http.MethodPatch, Path: "/v1/workspace/members/" + c.UserID, Token: c.Token, Body: map[string]string{"role": "OWNER"}}).
		ExpectError(t, http.StatusForbidden, "FORBIDDEN")
}

// Removing a member revokes their refresh tokens for that workspace (not elsewhere) and the
// pending invitations they sent.
func TestRemovedMemberLosesSessionAndInvitations(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Anna Admin", uniqueEmail("anna"))
	bAddr := uniqueEmail("ben")
	b := f.register(t, "Ben Member", bAddr)
	_, token := f.inviteToken(t, a.AccessToken, bAddr, "OWNER")
	r := f.Post("/v1/auth/accept-invitation", b.AccessToken, map[string]string{"token": token})
	if r.Status != http.StatusOK {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	var inA session
	r.JSON(t, &inA)
	inACookie := testkit.Cookie(t, r.Header, auth.RefreshCookie)
	// b, now an owner of a's workspace, invites someone.
	f.inviteToken(t, inA.AccessToken, uniqueEmail("friend"), "MEMBER")
	var sent int
	_ = f.DB.Get(&sent, `SELECT count(*) FROM invitations WHERE workspace_id = $1 AND invited_by = $2`, a.Workspace.ID, b.User.ID)
	if sent != 1 {
		t.Fatalf("b's invitations = %d", sent)
	}

	if r := f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/members/" + b.User.ID, Token: a.AccessToken}); r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{inACookie}}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	_ = f.DB.Get(&sent, `SELECT count(*) FROM invitations WHERE workspace_id = $1 AND invited_by = $2 AND accepted_at IS NULL`, a.Workspace.ID, b.User.ID)
	if sent != 0 {
		t.Errorf("removed member's pending invitations = %d, want 0", sent)
	}
	// b's session in their own workspace is untouched.
	if r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{b.refresh}}); r.Status != http.StatusOK {
		t.Errorf("own-workspace refresh after removal elsewhere: %d %s", r.Status, r.Body)
	}
}

// Reusing a rotated refresh token revokes the sessions switch-workspace opened from its chain.
func TestReuseRevokesSwitchedSessions(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Sam Switch", uniqueEmail("sam"))
	other := authtest.NewOwner(t, f.DB, nil)
	authtest.AddMember(t, f.DB, other.WorkspaceID, a.User.ID, authn.RoleAdmin)
	// login (register) → refresh (rotate R1 → R2).
	r := f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{a.refresh}})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	var rotated struct{ AccessToken string }
	r.JSON(t, &rotated)
	// switch-workspace with the new access token → R3 in the other workspace.
	sw := f.Post("/v1/auth/switch-workspace", rotated.AccessToken, map[string]string{"workspaceId": other.WorkspaceID})
	if sw.Status != http.StatusOK {
		t.Fatalf("switch: %d %s", sw.Status, sw.Body)
	}
	switched := testkit.Cookie(t, sw.Header, auth.RefreshCookie)
	// A switch from the switched session stays in the chain too.
	var s2 session
	sw.JSON(t, &s2)
	back := f.Post("/v1/auth/switch-workspace", s2.AccessToken, map[string]string{"workspaceId": a.Workspace.ID})
	if back.Status != http.StatusOK {
		t.Fatalf("switch back: %d %s", back.Status, back.Body)
	}
	switchedBack := testkit.Cookie(t, back.Header, auth.RefreshCookie)

	// Reuse the first (rotated) token: everything descended from it dies.
	f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{a.refresh}}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
	for name, c := range map[string]*http.Cookie{"switched": switched, "switched back": switchedBack} {
		t.Run(name, func(t *testing.T) {
			f.Do(apitest.Req{Method: http.MethodPost, Path: "/v1/auth/refresh", Cookies: []*http.Cookie{c}}).
				ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
		})
	}
	if n := f.liveRefresh(t, a.User.ID); n != 0 {
		t.Errorf("live refresh tokens after reuse = %d", n)
	}
	// A still-valid access token of the revoked chain cannot open a new session either.
	f.Post("/v1/auth/switch-workspace", rotated.AccessToken, map[string]string{"workspaceId": other.WorkspaceID}).
		ExpectError(t, http.StatusUnauthorized, "INVALID_TOKEN")
}

func TestListAndDeleteInvitations(t *testing.T) {
	t.Parallel()
	f := newEnv(t)
	a := f.register(t, "Lisa List", uniqueEmail("lisa"))
	c := f.register(t, "Carl Other", uniqueEmail("carl"))
	admin := authtest.NewMember(t, f.DB, f.Deps.Issuer, a.Workspace.ID, authn.RoleAdmin)
	inviteeAddr := uniqueEmail("invitee")
	id, token := f.inviteToken(t, a.AccessToken, inviteeAddr, "ADMIN")
	cID, _ := f.inviteToken(t, c.AccessToken, uniqueEmail("cinv"), "MEMBER")

	var list struct {
		Items []struct {
			ID, Email, Role, InviterName string
			InvitedBy                    string
		}
	}
	r := f.Get("/v1/workspace/invitations", a.AccessToken)
	r.JSON(t, &list)
	if r.Status != 200 || len(list.Items) != 1 || list.Items[0].ID != id || list.Items[0].Email != inviteeAddr ||
		list.Items[0].Role != "ADMIN" || list.Items[0].InvitedBy != a.User.ID || list.Items[0].InviterName != "Lisa List" {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), token) {
		t.Fatal("the list shows the raw token")
	}

	cases := []struct {
		name, token, path string
		status            int
		code              string
	}{
		{"admin cannot list", admin.Token, "", 403, "FORBIDDEN"},
		{"another workspace's invitation", a.AccessToken, "/" + cID, 404, "NOT_FOUND"},
		{"the other owner cannot delete ours", c.AccessToken, "/" + id, 404, "NOT_FOUND"},
		{"unknown id", a.AccessToken, "/" + uuid.NewString(), 404, "NOT_FOUND"},
		{"not a uuid", a.AccessToken, "/nope", 404, "NOT_FOUND"},
		{"admin cannot delete", admin.Token, "/" + id, 403, "FORBIDDEN"},
		{"no token", "", "/" + id, 401, "MISSING_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodDelete
			if tc.path == "" {
				method = http.MethodGet
			}
			f.Do(apitest.Req{Method: method, Path: "/v1/workspace/invitations" + tc.path, Token: tc.token}).ExpectError(t, tc.status, tc.code)
		})
	}
	if r := f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/invitations/" + id, Token: a.AccessToken}); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	f.Get("/v1/workspace/invitations", a.AccessToken).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("after delete: %d pending", len(list.Items))
	}
	f.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/workspace/invitations/" + id, Token: a.AccessToken}).ExpectError(t, 404, "NOT_FOUND")
	f.Post("/v1/auth/accept-invitation", "", map[string]string{"token": token, "name": "In Vitee", "password": password}).
		ExpectError(t, 404, "NOT_FOUND")
	// c's invitation is untouched.
	var n int
	_ = f.DB.Get(&n, `SELECT count(*) FROM invitations WHERE id = $1`, cID)
	if n != 1 {
		t.Error("another workspace's invitation was deleted")
	}
}
