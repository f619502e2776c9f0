package auth

import (
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

// RefreshCookie is the refresh token's cookie name.
const RefreshCookie = "refresh_token"

type handlers struct {
	svc           *Service
	secure        bool
	loginFailures web.FailureLimit
}

// Request and response types.

type registerRequest struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

type switchRequest struct {
	WorkspaceID string `json:"workspaceId"`
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

type acceptRequest struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

type emailRequest struct {
	Email string `json:"email"`
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type tokenRequest struct {
	Token string `json:"token"`
}

type pendingInvitationDTO struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Role        string    `json:"role"`
	InvitedBy   *string   `json:"invitedBy"`
	InviterName *string   `json:"inviterName"`
	ExpiresAt   time.Time `json:"expiresAt"`
	CreatedAt   time.Time `json:"createdAt"`
}

type roleRequest struct {
	Role string `json:"role"`
}

type nameRequest struct {
	Name *string `json:"name"`
}

type userDTO struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	EmailVerified bool      `json:"emailVerified"`
	CreatedAt     time.Time `json:"createdAt"`
}

type workspaceRefDTO struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
	Plan string `json:"plan,omitempty"`
	Role string `json:"role"`
}

type sessionDTO struct {
	User        userDTO         `json:"user"`
	Workspace   workspaceRefDTO `json:"workspace"`
	AccessToken string          `json:"accessToken"`
	ExpiresIn   int             `json:"expiresIn"`
}

type tokenDTO struct {
	AccessToken  string `json:"accessToken"`
	ExpiresIn    int    `json:"expiresIn"`
	RefreshToken string `json:"refreshToken,omitempty"`
}

type meDTO struct {
	User       userDTO           `json:"user"`
	Workspaces []workspaceRefDTO `json:"workspaces"`
}

type workspaceDTO struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Slug          string    `json:"slug"`
	Plan          string    `json:"plan"`
	CreditBalance int       `json:"creditBalance"`
	MemberCount   int       `json:"memberCount"`
	CreatedAt     time.Time `json:"createdAt"`
}

type memberDTO struct {
	UserID   string    `json:"userId"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joinedAt"`
}

type invitationDTO struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Converters.

func toUser(u userRow) userDTO {
	return userDTO{ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt.UTC()}
}

func toWorkspaceRef(m membershipRow) workspaceRefDTO {
	return workspaceRefDTO{ID: m.WorkspaceID, Name: m.Name, Slug: m.Slug, Plan: m.Plan, Role: m.Role}
}

func toWorkspace(w WorkspaceInfo) workspaceDTO {
	return workspaceDTO{
		ID: w.ID, Name: w.Name, Slug: w.Slug, Plan: w.Plan, CreditBalance: w.CreditBalance,
		MemberCount: w.MemberCount, CreatedAt: w.CreatedAt.UTC(),
	}
}

func toMember(m memberRow) memberDTO {
	return memberDTO{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, JoinedAt: m.JoinedAt.UTC()}
}

// Validation.

const (
	maxEmail    = 254
	maxName     = 100
	minPassword = 8
	maxPassword = 72 // bcrypt ignores bytes past 72; refuse them instead of silently truncating
)

// normalizeEmail lower-cases and checks an address.
func normalizeEmail(p web.Problems, field, v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	a, err := mail.ParseAddress(v)
	p.Check(v != "", field, "is required")
	p.Check(len(v) <= maxEmail, field, "must be at most 254 characters")
	p.Check(err == nil && a.Address == v && strings.Contains(v, "."), field, "must be a valid email address")
	return v
}

func checkName(p web.Problems, v string) string {
	v = strings.TrimSpace(v)
	n := utf8.RuneCountInString(v)
	p.Check(n >= 2, "name", "must be at least 2 characters")
	p.Check(n <= maxName, "name", "must be at most 100 characters")
	return v
}

func checkPassword(p web.Problems, v string) {
	p.Check(len(v) >= minPassword, "password", "must be at least 8 characters")
	p.Check(len(v) <= maxPassword, "password", "must be at most 72 bytes")
}

// Handlers: decode → validate → one service call → encode.

func (h *handlers) register(c echo.Context) error {
	var req registerRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	in := RegisterInput{Name: checkName(p, req.Name), Email: normalizeEmail(p, "email", req.Email), Password: req.Password}
	checkPassword(p, req.Password)
	if err := p.Err(); err != nil {
		return err
	}
	sess, err := h.svc.Register(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return h.writeSession(c, http.StatusCreated, sess)
}

func (h *handlers) login(c echo.Context) error {
	var req loginRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	p.Check(strings.TrimSpace(req.Email) != "", "email", "is required")
	p.Check(req.Password != "", "password", "is required")
	if err := p.Err(); err != nil {
		return err
	}
	if len(req.Email) > maxEmail || len(req.Password) > maxPassword {
		return ErrInvalidCredentials
	}
	emailAddr := strings.ToLower(strings.TrimSpace(req.Email))
	if err := h.loginFailures.Check(c, emailAddr); err != nil {
		return err
	}
	sess, err := h.svc.Login(c.Request().Context(), emailAddr, req.Password)
	if err != nil {
		if apperr.CodeOf(err) == apperr.InvalidCredentials {
			h.loginFailures.Fail(c, emailAddr)
		}
		return err
	}
	return h.writeSession(c, http.StatusOK, sess)
}

func (h *handlers) refresh(c echo.Context) error {
	var req refreshRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	fromBody := req.RefreshToken != ""
	token := req.RefreshToken
	if !fromBody {
		if ck, err := c.Cookie(RefreshCookie); err == nil {
			token = ck.Value
		}
	}
	sess, err := h.svc.Refresh(c.Request().Context(), token)
	if err != nil {
		if apperr.CodeOf(err) == apperr.InvalidToken && !fromBody {
			h.clearCookie(c)
		}
		return err
	}
	h.setCookie(c, sess.RefreshToken)
	out := tokenDTO{AccessToken: sess.AccessToken, ExpiresIn: sess.ExpiresIn}
	if fromBody {
		out.RefreshToken = sess.RefreshToken
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) logout(c echo.Context) error {
	var req refreshRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	token := req.RefreshToken
	if token == "" {
		if ck, err := c.Cookie(RefreshCookie); err == nil {
			token = ck.Value
		}
	}
	if err := h.svc.Logout(c.Request().Context(), token); err != nil {
		return err
	}
	h.clearCookie(c)
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) me(c echo.Context) error {
	u, ms, err := h.svc.Me(c.Request().Context(), authn.MustGet(c))
	if err != nil {
		return err
	}
	out := meDTO{User: toUser(u), Workspaces: make([]workspaceRefDTO, 0, len(ms))}
	for _, m := range ms {
		out.Workspaces = append(out.Workspaces, toWorkspaceRef(m))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) switchWorkspace(c echo.Context) error {
	var req switchRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	if !web.IsUUID(req.WorkspaceID) {
		return apperr.ValidationFields(map[string]string{"workspaceId": "must be a workspace id"})
	}
	sess, err := h.svc.SwitchWorkspace(c.Request().Context(), authn.MustGet(c), strings.ToLower(req.WorkspaceID))
	if err != nil {
		return err
	}
	return h.writeSession(c, http.StatusOK, sess)
}

func (h *handlers) acceptInvitation(c echo.Context) error {
	var req acceptRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	p.Check(req.Token != "" && len(req.Token) <= 200, "token", "is required")
	in := AcceptInput{Token: req.Token}
	if req.Name != "" {
		in.Name = checkName(p, req.Name)
	}
	if req.Password != "" {
		checkPassword(p, req.Password)
		in.Password = req.Password
	}
	if err := p.Err(); err != nil {
		return err
	}
	if p, ok := authn.Get(c); ok {
		in.Caller = &p
	}
	sess, err := h.svc.AcceptInvitation(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return h.writeSession(c, http.StatusOK, sess)
}

func (h *handlers) getWorkspace(c echo.Context) error {
	w, err := h.svc.Workspace(c.Request().Context(), authn.MustGet(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toWorkspace(w))
}

func (h *handlers) updateWorkspace(c echo.Context) error {
	var req nameRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	p.Check(req.Name != nil, "name", "is required")
	var name string
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
		n := utf8.RuneCountInString(name)
		p.Check(n >= 1 && n <= maxName, "name", "must be 1 to 100 characters")
	}
	if err := p.Err(); err != nil {
		return err
	}
	w, err := h.svc.RenameWorkspace(c.Request().Context(), authn.MustGet(c).WorkspaceID, name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toWorkspace(w))
}

func (h *handlers) listMembers(c echo.Context) error {
	ms, err := h.svc.Members(c.Request().Context(), authn.MustGet(c).WorkspaceID)
	if err != nil {
		return err
	}
	out := make([]memberDTO, 0, len(ms))
	for _, m := range ms {
		out = append(out, toMember(m))
	}
	return c.JSON(http.StatusOK, page.Of(out, ""))
}

func (h *handlers) invite(c echo.Context) error {
	var req inviteRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	addr := normalizeEmail(p, "email", req.Email)
	role := parseRole(p, req.Role)
	if err := p.Err(); err != nil {
		return err
	}
	inv, err := h.svc.Invite(c.Request().Context(), authn.MustGet(c), addr, role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]invitationDTO{
		"invitation": {ID: inv.ID, Email: inv.Email, Role: inv.Role, ExpiresAt: inv.ExpiresAt},
	})
}

func (h *handlers) updateMember(c echo.Context) error {
	userID, err := web.PathUUID(c, "userId", "Member")
	if err != nil {
		return err
	}
	var req roleRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	role := parseRole(p, req.Role)
	if err := p.Err(); err != nil {
		return err
	}
	m, err := h.svc.SetRole(c.Request().Context(), authn.MustGet(c), userID, role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toMember(m))
}

func (h *handlers) removeMember(c echo.Context) error {
	userID, err := web.PathUUID(c, "userId", "Member")
	if err != nil {
		return err
	}
	if err := h.svc.RemoveMember(c.Request().Context(), authn.MustGet(c), userID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) listInvitations(c echo.Context) error {
	rows, err := h.svc.Invitations(c.Request().Context(), authn.MustGet(c))
	if err != nil {
		return err
	}
	out := make([]pendingInvitationDTO, 0, len(rows))
	for _, r := range rows {
		out = append(out, pendingInvitationDTO{
			ID: r.ID, Email: r.Email, Role: r.Role, InvitedBy: r.InvitedBy, InviterName: r.InviterName,
			ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(),
		})
	}
	return c.JSON(http.StatusOK, page.Of(out, ""))
}

func (h *handlers) deleteInvitation(c echo.Context) error {
	id, err := web.PathUUID(c, "id", "Invitation")
	if err != nil {
		return err
	}
	if err := h.svc.DeleteInvitation(c.Request().Context(), authn.MustGet(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// forgotPassword answers 202 for any well-formed address, known or not.
func (h *handlers) forgotPassword(c echo.Context) error {
	var req emailRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	addr := normalizeEmail(p, "email", req.Email)
	if err := p.Err(); err != nil {
		return err
	}
	if err := h.svc.ForgotPassword(c.Request().Context(), addr); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{
		"message": "If an account exists for this address, a reset link is on its way",
	})
}

func (h *handlers) resetPassword(c echo.Context) error {
	var req resetRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	p.Check(req.Token != "" && len(req.Token) <= 200, "token", "is required")
	checkPassword(p, req.Password)
	if err := p.Err(); err != nil {
		return err
	}
	if err := h.svc.ResetPassword(c.Request().Context(), req.Token, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) verifyEmail(c echo.Context) error {
	var req tokenRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	p := web.Problems{}
	p.Check(req.Token != "" && len(req.Token) <= 200, "token", "is required")
	if err := p.Err(); err != nil {
		return err
	}
	if err := h.svc.VerifyEmail(c.Request().Context(), req.Token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) resendVerification(c echo.Context) error {
	if err := h.svc.ResendVerification(c.Request().Context(), authn.MustGet(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

func parseRole(p web.Problems, v string) authn.Role {
	r := authn.Role(v)
	p.Check(r.Valid(), "role", "must be one of OWNER, ADMIN, MEMBER")
	return r
}

// writeSession answers with the session and sets the refresh cookie (non-browser clients
// read it from Set-Cookie, then may send it in the body of /refresh).
func (h *handlers) writeSession(c echo.Context, status int, s *Session) error {
	h.setCookie(c, s.RefreshToken)
	return c.JSON(status, sessionDTO{
		User: toUser(s.User), Workspace: toWorkspaceRef(s.Workspace), AccessToken: s.AccessToken, ExpiresIn: s.ExpiresIn,
	})
}

func (h *handlers) setCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{
		Name: RefreshCookie, Value: token, Path: "/v1/auth", HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(h.svc.refreshTTL.Seconds()),
	})
}

func (h *handlers) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: RefreshCookie, Value: "", Path: "/v1/auth", HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1,
	})
}
