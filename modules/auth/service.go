package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
)

// InvitationTTL is how long an invitation link stays valid.
const InvitationTTL = 7 * 24 * time.Hour

// Service is the auth business logic; it never sees echo.
type Service struct {
	db          *pg.DB
	issuer      *authn.Issuer
	mailer      email.Mailer
	signupGrant SignupGrant
	log         *slog.Logger
	cost        int
	refreshTTL  time.Duration
	appURL      string
	// dummyHash equalises login timing for unknown e-mail addresses.
	dummyHash []byte
}

func newService(d Deps) (*Service, error) {
	if d.BcryptCost == 0 {
		d.BcryptCost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("axon-timing-equaliser"), d.BcryptCost)
	if err != nil {
		return nil, err
	}
	return &Service{
		db: d.DB, issuer: d.Issuer, mailer: d.Mailer, signupGrant: d.SignupGrant, log: d.Log,
		cost: d.BcryptCost, refreshTTL: d.RefreshTTL, appURL: strings.TrimRight(d.AppURL, "/"), dummyHash: dummy,
	}, nil
}

// Session is what register, login, accept-invitation, refresh and switch-workspace return.
type Session struct {
	User         userRow
	Workspace    membershipRow
	AccessToken  string
	ExpiresIn    int
	RefreshToken string
	refreshID    string
}

// ErrInvalidCredentials is the one answer for an unknown e-mail and a wrong password.
var ErrInvalidCredentials = apperr.E(apperr.InvalidCredentials, "Invalid email or password")

var errBadRefresh = apperr.E(apperr.InvalidToken, "Invalid or expired refresh token")

// RegisterInput is a sign-up.
type RegisterInput struct {
	Name, Email, Password string
}

// Register creates the user, the workspace "<name>'s Workspace" with the caller as OWNER,
// the starting credits and a refresh token, all in one transaction.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*Session, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cost)
	if err != nil {
		return nil, err
	}
	var sess *Session
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var u userRow
		if err := tx.GetContext(ctx, &u, qInsertUser, newID(), in.Email, string(hash), in.Name); err != nil {
			if pg.IsUniqueViolation(err) {
				return apperr.E(apperr.Conflict, "An account with this email already exists")
			}
			return err
		}
		wsName := in.Name + "'s Workspace"
		var w workspaceRow
		if err := tx.GetContext(ctx, &w, qInsertWorkspace, newID(), wsName, slugify(in.Name)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qInsertMember, w.ID, u.ID, string(authn.RoleOwner)); err != nil {
			return err
		}
		if s.signupGrant != nil {
			if err := s.signupGrant(ctx, tx, w.ID); err != nil {
				return fmt.Errorf("signup grant: %w", err)
			}
		}
		m := membershipRow{WorkspaceID: w.ID, Name: w.Name, Slug: w.Slug, Plan: w.Plan, Role: string(authn.RoleOwner)}
		sess, err = s.newSession(ctx, tx, u, m, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// Login checks the password and opens a session in the user's first workspace. Unknown
// e-mail and wrong password get the same error after the same bcrypt work.
func (s *Service) Login(ctx context.Context, emailAddr, password string) (*Session, error) {
	var u userRow
	err := s.db.GetContext(ctx, &u, qUserByEmail, emailAddr)
	if pg.IsNoRows(err) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrInvalidCredentials
	}
	var ms []membershipRow
	if err := s.db.SelectContext(ctx, &ms, qMemberships, u.ID); err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, apperr.E(apperr.Forbidden, "This account is not a member of any workspace")
	}
	var sess *Session
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		sess, err = s.newSession(ctx, tx, u, ms[0], "")
		return err
	})
	return sess, err
}

// Refresh rotates a refresh token. Presenting a token that was already rotated revokes its
// whole family (the token was stolen or replayed) and fails.
func (s *Service) Refresh(ctx context.Context, token string) (*Session, error) {
	if token == "" || len(token) > 200 {
		return nil, apperr.E(apperr.MissingToken, "Refresh token required")
	}
	var (
		sess   *Session
		reused string
	)
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var rt refreshRow
		if err := tx.GetContext(ctx, &rt, qRefreshForUpdate, hashToken(token)); err != nil {
			if pg.IsNoRows(err) {
				return errBadRefresh
			}
			return err
		}
		if rt.ReplacedBy != nil {
			reused = rt.FamilyID
			return errBadRefresh
		}
		if rt.RevokedAt != nil || time.Now().After(rt.ExpiresAt) {
			return errBadRefresh
		}
		var m membershipRow
		if err := tx.GetContext(ctx, &m, qMembership, rt.UserID, rt.WorkspaceID); err != nil {
			if pg.IsNoRows(err) {
				if _, err := tx.ExecContext(ctx, qRevokeFamily, rt.FamilyID); err != nil {
					return err
				}
				return nil // commit the revocation; sess stays nil
			}
			return err
		}
		var u userRow
		if err := tx.GetContext(ctx, &u, qUserByID, rt.UserID); err != nil {
			return err
		}
		var err error
		sess, err = s.newSession(ctx, tx, u, m, rt.FamilyID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qRotateRefresh, rt.ID, sess.refreshID)
		return err
	})
	if reused != "" {
		// The failed transaction rolled back; the family revocation must stick.
		if _, rerr := s.db.ExecContext(ctx, qRevokeFamily, reused); rerr != nil {
			return nil, rerr
		}
		s.log.WarnContext(ctx, "refresh token reuse detected; family revoked", "familyId", reused)
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return nil, errBadRefresh
	}
	return sess, nil
}

// Logout revokes the refresh token (if any).
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > 200 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, qRevokeRefresh, hashToken(token))
	return err
}

// Me returns the user and their workspaces.
func (s *Service) Me(ctx context.Context, p authn.Principal) (userRow, []membershipRow, error) {
	var row meRow
	if err := s.db.GetContext(ctx, &row, qMe, p.UserID); err != nil {
		return row.userRow, nil, pg.MapError(err)
	}
	var ms []membershipRow
	if err := json.Unmarshal(row.Memberships, &ms); err != nil {
		return row.userRow, nil, fmt.Errorf("auth: memberships: %w", err)
	}
	return row.userRow, ms, nil
}

// SwitchWorkspace opens a session in another workspace the user belongs to.
func (s *Service) SwitchWorkspace(ctx context.Context, p authn.Principal, workspaceID string) (*Session, error) {
	var sess *Session
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var m membershipRow
		if err := tx.GetContext(ctx, &m, qMembership, p.UserID, workspaceID); err != nil {
			if pg.IsNoRows(err) {
				return apperr.NotFoundf("Workspace")
			}
			return err
		}
		var u userRow
		if err := tx.GetContext(ctx, &u, qUserByID, p.UserID); err != nil {
			return pg.MapError(err)
		}
		var err error
		sess, err = s.newSession(ctx, tx, u, m, "")
		return err
	})
	return sess, err
}

// WorkspaceInfo is GET /v1/workspace.
type WorkspaceInfo struct {
	workspaceRow
	MemberCount int
}

// Workspace returns the caller's workspace.
func (s *Service) Workspace(ctx context.Context, workspaceID string) (WorkspaceInfo, error) {
	var w WorkspaceInfo
	if err := s.db.GetContext(ctx, &w.workspaceRow, qWorkspace, workspaceID); err != nil {
		return w, pg.MapError(err)
	}
	err := s.db.GetContext(ctx, &w.MemberCount, qMemberCount, workspaceID)
	return w, err
}

// RenameWorkspace changes the workspace name.
func (s *Service) RenameWorkspace(ctx context.Context, workspaceID, name string) (WorkspaceInfo, error) {
	var w WorkspaceInfo
	if err := s.db.GetContext(ctx, &w.workspaceRow, qRenameWorkspace, workspaceID, name); err != nil {
		return w, pg.MapError(err)
	}
	err := s.db.GetContext(ctx, &w.MemberCount, qMemberCount, workspaceID)
	return w, err
}

// Members lists the workspace's members.
func (s *Service) Members(ctx context.Context, workspaceID string) ([]memberRow, error) {
	var out []memberRow
	err := s.db.SelectContext(ctx, &out, qMembers, workspaceID)
	return out, err
}

// Invitation is a created invitation.
type Invitation struct {
	ID, Email, Role string
	ExpiresAt       time.Time
}

// Invite creates an invitation and enqueues its e-mail in the same transaction.
func (s *Service) Invite(ctx context.Context, p authn.Principal, emailAddr string, role authn.Role) (Invitation, error) {
	token := randomToken()
	inv := Invitation{ID: newID(), Email: emailAddr, Role: string(role), ExpiresAt: time.Now().Add(InvitationTTL).UTC()}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var already bool
		if err := tx.GetContext(ctx, &already, qIsMemberByEmail, p.WorkspaceID, emailAddr); err != nil {
			return err
		}
		if already {
			return apperr.E(apperr.Conflict, "This person is already a member of the workspace")
		}
		var w workspaceRow
		if err := tx.GetContext(ctx, &w, qWorkspace, p.WorkspaceID); err != nil {
			return pg.MapError(err)
		}
		var inviter userRow
		if err := tx.GetContext(ctx, &inviter, qUserByID, p.UserID); err != nil {
			return pg.MapError(err)
		}
		if _, err := tx.ExecContext(ctx, qDeletePendingInvites, p.WorkspaceID, emailAddr); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qInsertInvitation, inv.ID, p.WorkspaceID, emailAddr, inv.Role,
			hashToken(token), p.UserID, inv.ExpiresAt); err != nil {
			return err
		}
		_, err := s.mailer.Enqueue(ctx, tx, email.Message{
			WorkspaceID: p.WorkspaceID,
			To:          emailAddr,
			Template:    email.TemplateInvitation,
			Data: map[string]any{
				"WorkspaceName": w.Name,
				"InviterName":   inviter.Name,
				"Role":          inv.Role,
				"AcceptURL":     s.appURL + "/accept-invitation?token=" + token,
				"ExpiresAt":     inv.ExpiresAt.Format("2 January 2006"),
			},
		})
		return err
	})
	return inv, err
}

// AcceptInput accepts an invitation; Name and Password are required for a new account.
type AcceptInput struct {
	Token, Name, Password string
}

// AcceptInvitation joins the invited workspace (creating the account when the address has
// none) and opens a session there.
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInput) (*Session, error) {
	var pwHash []byte
	if in.Password != "" {
		var err error
		if pwHash, err = bcrypt.GenerateFromPassword([]byte(in.Password), s.cost); err != nil {
			return nil, err
		}
	}
	var sess *Session
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var inv invitationRow
		if err := tx.GetContext(ctx, &inv, qInvitationForUpdate, hashToken(in.Token)); err != nil {
			if pg.IsNoRows(err) {
				return apperr.E(apperr.NotFound, "Invitation not found or expired")
			}
			return err
		}
		if inv.AcceptedAt != nil || time.Now().After(inv.ExpiresAt) {
			return apperr.E(apperr.NotFound, "Invitation not found or expired")
		}
		var u userRow
		err := tx.GetContext(ctx, &u, qUserByEmail, inv.Email)
		switch {
		case pg.IsNoRows(err):
			problems := map[string]string{}
			if len([]rune(in.Name)) < 2 {
				problems["name"] = "is required for a new account (at least 2 characters)"
			}
			if pwHash == nil {
				problems["password"] = "is required for a new account (at least 8 characters)"
			}
			if len(problems) > 0 {
				return apperr.ValidationFields(problems)
			}
			if err := tx.GetContext(ctx, &u, qInsertUser, newID(), inv.Email, string(pwHash), in.Name); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, qAddMemberIfAbsent, inv.WorkspaceID, u.ID, inv.Role); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qAcceptInvitation, inv.ID); err != nil {
			return err
		}
		var m membershipRow
		if err := tx.GetContext(ctx, &m, qMembership, u.ID, inv.WorkspaceID); err != nil {
			return err
		}
		sess, err = s.newSession(ctx, tx, u, m, "")
		return err
	})
	return sess, err
}

var errLastOwner = apperr.E(apperr.Conflict, "The last owner of a workspace cannot be removed or demoted")

// SetRole changes a member's role, keeping at least one OWNER.
func (s *Service) SetRole(ctx context.Context, p authn.Principal, userID string, role authn.Role) (memberRow, error) {
	var out memberRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		target, err := s.lockMember(ctx, tx, p.WorkspaceID, userID)
		if err != nil {
			return err
		}
		if target.Role == string(authn.RoleOwner) && role != authn.RoleOwner {
			if err := s.ensureAnotherOwner(ctx, tx, p.WorkspaceID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, qSetRole, p.WorkspaceID, userID, string(role)); err != nil {
			return err
		}
		target.Role = string(role)
		out = target
		return nil
	})
	return out, err
}

// RemoveMember removes a member (keeping at least one OWNER) and revokes their refresh
// tokens for the workspace.
func (s *Service) RemoveMember(ctx context.Context, p authn.Principal, userID string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		target, err := s.lockMember(ctx, tx, p.WorkspaceID, userID)
		if err != nil {
			return err
		}
		if target.Role == string(authn.RoleOwner) {
			if err := s.ensureAnotherOwner(ctx, tx, p.WorkspaceID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, qDeleteMember, p.WorkspaceID, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qRevokeUserWorkspace, userID, p.WorkspaceID)
		return err
	})
}

func (s *Service) lockMember(ctx context.Context, tx *sqlx.Tx, workspaceID, userID string) (memberRow, error) {
	// Owner rows first, always in the same order, so concurrent changes cannot deadlock.
	var owners []string
	if err := tx.SelectContext(ctx, &owners, qLockOwners, workspaceID); err != nil {
		return memberRow{}, err
	}
	var m memberRow
	if err := tx.GetContext(ctx, &m, qMemberForUpdate, workspaceID, userID); err != nil {
		if pg.IsNoRows(err) {
			return m, apperr.NotFoundf("Member")
		}
		return m, err
	}
	return m, nil
}

func (s *Service) ensureAnotherOwner(ctx context.Context, tx *sqlx.Tx, workspaceID string) error {
	var owners []string
	if err := tx.SelectContext(ctx, &owners, qLockOwners, workspaceID); err != nil {
		return err
	}
	if len(owners) <= 1 {
		return errLastOwner
	}
	return nil
}

// newSession issues an access token and a refresh token (in family, or a new family).
func (s *Service) newSession(ctx context.Context, tx *sqlx.Tx, u userRow, m membershipRow, family string) (*Session, error) {
	access, err := s.issuer.Issue(authn.Principal{UserID: u.ID, WorkspaceID: m.WorkspaceID, Role: authn.Role(m.Role)})
	if err != nil {
		return nil, err
	}
	if family == "" {
		family = newID()
	}
	refresh := randomToken()
	id := newID()
	if _, err := tx.ExecContext(ctx, qInsertRefresh, id, u.ID, m.WorkspaceID, family, hashToken(refresh),
		time.Now().Add(s.refreshTTL)); err != nil {
		return nil, err
	}
	return &Session{
		User: u, Workspace: m, AccessToken: access, ExpiresIn: int(s.issuer.TTL().Seconds()),
		RefreshToken: refresh, refreshID: id,
	}, nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// randomToken is 32 random bytes, base64url (refresh and invitation tokens).
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how tokens are stored: sha256 hex, never the token itself.
func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slugify makes a unique-enough workspace slug: the name's words plus 6 random hex chars.
func slugify(name string) string {
	s := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	if s == "" {
		s = "workspace"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return s + "-" + hex.EncodeToString(b)
}
