package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/queue"
)

// Lifetimes of the tokens sent by e-mail.
const (
	InvitationTTL    = 7 * 24 * time.Hour
	VerifyEmailTTL   = 48 * time.Hour
	ResetPasswordTTL = time.Hour
)

// Service is the auth business logic; it never sees echo.
type Service struct {
	db          *pg.DB
	st          store
	queue       queue.Inserter
	issuer      *authn.Issuer
	mailer      mail.Mailer
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
		db: d.DB, queue: d.Queue, issuer: d.Issuer, mailer: d.Mailer, signupGrant: d.SignupGrant, log: d.Log,
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

// errBadEmailToken answers a verification or reset token that is unknown, used or expired:
// 400 VALIDATION_ERROR naming the field (not 401, which clients read as "session over").
var errBadEmailToken = apperr.ValidationFields(map[string]string{"token": "is invalid, expired or already used"})

// ErrLoginRequired answers an invitation for an address that already has an account when the
// request does not come from that account's session.
var ErrLoginRequired = apperr.E(apperr.LoginRequired,
	"An account already exists for this email address: sign in to it first, then accept the invitation")

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
		u, err := s.st.insertUser(ctx, tx, in.Email, string(hash), in.Name, false)
		if err != nil {
			return err // errEmailTaken: 409
		}
		if err := s.sendVerification(ctx, tx, u); err != nil {
			return err
		}
		w, err := s.st.insertWorkspace(ctx, tx, in.Name+"'s Workspace", slugify(in.Name))
		if err != nil {
			return err
		}
		if err := s.st.insertMember(ctx, tx, w.ID, u.ID, authn.RoleOwner); err != nil {
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
	u, ok, err := s.st.userByEmail(ctx, s.db, emailAddr)
	if err != nil {
		return nil, err
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, ErrInvalidCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrInvalidCredentials
	}
	ms, err := s.st.memberships(ctx, s.db, u.ID)
	if err != nil {
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
		rt, err := s.st.refreshForUpdate(ctx, tx, hashToken(token))
		if err != nil {
			return err // errBadRefresh when unknown
		}
		if rt.ReplacedBy != nil {
			reused = rt.FamilyID
			return errBadRefresh
		}
		if rt.RevokedAt != nil || time.Now().After(rt.ExpiresAt) {
			return errBadRefresh
		}
		m, err := s.st.membership(ctx, tx, rt.UserID, rt.WorkspaceID)
		if pg.IsNoRows(err) {
			// No longer a member: end the user's sessions in that workspace (a family may
			// span workspaces through switch-workspace; the others stay).
			return s.st.revokeUserWorkspace(ctx, tx, rt.UserID, rt.WorkspaceID) // commit; sess stays nil
		}
		if err != nil {
			return err
		}
		u, err := s.st.userByID(ctx, tx, rt.UserID, false)
		if err != nil {
			return err
		}
		if sess, err = s.newSession(ctx, tx, u, m, rt.FamilyID); err != nil {
			return err
		}
		return s.st.rotateRefresh(ctx, tx, rt.ID, sess.refreshID)
	})
	if reused != "" {
		// The failed transaction rolled back; the family revocation must stick.
		if rerr := s.st.revokeFamily(ctx, s.db, reused); rerr != nil {
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
	return s.st.revokeRefresh(ctx, s.db, hashToken(token))
}

// Me returns the user and their workspaces.
func (s *Service) Me(ctx context.Context, p authn.Principal) (userRow, []membershipRow, error) {
	return s.st.me(ctx, s.db, p.UserID)
}

// SwitchWorkspace opens a session in another workspace the user belongs to. The new refresh
// token joins the family of the caller's session, so that reusing a rotated token of that
// chain revokes the switched session too; a session whose family is revoked (logout, reuse)
// cannot switch.
func (s *Service) SwitchWorkspace(ctx context.Context, p authn.Principal, workspaceID string) (*Session, error) {
	var sess *Session
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		family, err := s.callerFamily(ctx, tx, p)
		if err != nil {
			return err
		}
		m, err := s.st.membership(ctx, tx, p.UserID, workspaceID)
		if pg.IsNoRows(err) {
			return apperr.NotFoundf("Workspace")
		}
		if err != nil {
			return err
		}
		u, err := s.st.userByID(ctx, tx, p.UserID, false)
		if err != nil {
			return err
		}
		sess, err = s.newSession(ctx, tx, u, m, family)
		return err
	})
	return sess, err
}

// callerFamily is the refresh family of the caller's session ("" starts a new one when the
// access token was not issued with a refresh token); INVALID_TOKEN when that family is
// revoked.
func (s *Service) callerFamily(ctx context.Context, q sqlx.ExtContext, p authn.Principal) (string, error) {
	family, live, err := s.st.sessionFamily(ctx, q, p.TokenID, p.UserID)
	if err != nil {
		return "", err
	}
	if family != "" && !live {
		return "", apperr.E(apperr.InvalidToken, "This session has ended; sign in again")
	}
	return family, nil
}

// WorkspaceInfo is GET /v1/workspace.
type WorkspaceInfo struct {
	workspaceRow
	MemberCount int
}

// Workspace returns the caller's workspace.
func (s *Service) Workspace(ctx context.Context, workspaceID string) (WorkspaceInfo, error) {
	row, err := s.st.workspace(ctx, s.db, workspaceID)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	return s.withMemberCount(ctx, row)
}

// RenameWorkspace changes the workspace name.
func (s *Service) RenameWorkspace(ctx context.Context, workspaceID, name string) (WorkspaceInfo, error) {
	row, err := s.st.renameWorkspace(ctx, s.db, workspaceID, name)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	return s.withMemberCount(ctx, row)
}

func (s *Service) withMemberCount(ctx context.Context, row workspaceRow) (WorkspaceInfo, error) {
	n, err := s.st.memberCount(ctx, s.db, row.ID)
	return WorkspaceInfo{workspaceRow: row, MemberCount: n}, err
}

// Members lists the workspace's members.
func (s *Service) Members(ctx context.Context, workspaceID string) ([]memberRow, error) {
	return s.st.members(ctx, s.db, workspaceID)
}

// Invitation is a created invitation.
type Invitation struct {
	ID, Email, Role string
	ExpiresAt       time.Time
}

// Invite creates an invitation and enqueues its e-mail in the same transaction. The caller's
// OWNER role is re-read in the transaction (a demoted owner's token is refused at once); the
// accept link travels only sealed in the e-mail row.
func (s *Service) Invite(ctx context.Context, p authn.Principal, emailAddr string, role authn.Role) (Invitation, error) {
	token := randomToken()
	inv := Invitation{ID: pg.NewID(), Email: emailAddr, Role: string(role), ExpiresAt: time.Now().Add(InvitationTTL).UTC()}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.requireRole(ctx, tx, p.WorkspaceID, p.UserID, authn.RoleOwner); err != nil {
			return err
		}
		already, err := s.st.isMemberByEmail(ctx, tx, p.WorkspaceID, emailAddr)
		if err != nil {
			return err
		}
		if already {
			return apperr.E(apperr.Conflict, "This person is already a member of the workspace")
		}
		w, err := s.st.workspace(ctx, tx, p.WorkspaceID)
		if err != nil {
			return err
		}
		inviter, err := s.st.userByID(ctx, tx, p.UserID, false)
		if err != nil {
			return err
		}
		row := invitationRow{ID: inv.ID, WorkspaceID: p.WorkspaceID, Email: emailAddr, Role: inv.Role, ExpiresAt: inv.ExpiresAt}
		if err := s.st.insertInvitation(ctx, tx, row, hashToken(token), p.UserID); err != nil {
			return err
		}
		_, err = s.mailer.Enqueue(ctx, tx, mail.Message{
			WorkspaceID: p.WorkspaceID,
			To:          emailAddr,
			Template:    mail.TemplateInvitation,
			Data: map[string]any{
				"WorkspaceName": w.Name,
				"InviterName":   inviter.Name,
				"Role":          inv.Role,
				"ExpiresAt":     inv.ExpiresAt.Format("2 January 2006"),
			},
			Secret: map[string]string{"AcceptURL": s.appURL + "/accept-invitation?token=" + token},
		})
		return err
	})
	return inv, err
}

// PendingInvitation is one row of GET /v1/workspace/invitations.
type PendingInvitation = pendingInvitationRow

// Invitations lists the workspace's pending (not accepted, not expired) invitations, newest
// first; the caller's OWNER role is re-read first.
func (s *Service) Invitations(ctx context.Context, p authn.Principal) ([]PendingInvitation, error) {
	var out []PendingInvitation
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.requireRole(ctx, tx, p.WorkspaceID, p.UserID, authn.RoleOwner); err != nil {
			return err
		}
		var err error
		out, err = s.st.pendingInvitations(ctx, tx, p.WorkspaceID)
		return err
	})
	return out, err
}

// DeleteInvitation revokes a pending invitation of the caller's workspace (NOT_FOUND for an
// unknown, accepted or other workspace's one).
func (s *Service) DeleteInvitation(ctx context.Context, p authn.Principal, id string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.st.requireRole(ctx, tx, p.WorkspaceID, p.UserID, authn.RoleOwner); err != nil {
			return err
		}
		return s.st.deletePendingInvitation(ctx, tx, p.WorkspaceID, id)
	})
}

// AcceptInput accepts an invitation; Name and Password are required for a new account.
// Caller is the session the request came with, if any.
type AcceptInput struct {
	Token, Name, Password string
	Caller                *authn.Principal
}

// AcceptInvitation joins the invited workspace and opens a session there. A new address gets
// a new account, e-mail-verified (the token proves the mailbox). An address that already has
// an account is joined only from that account's own session: the token alone never signs in
// (ErrLoginRequired); the new session then joins the caller's token family.
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
		inv, err := s.st.acceptInvitation(ctx, tx, hashToken(in.Token))
		if err != nil {
			return err // errNoInvitation: 404
		}
		family := ""
		u, ok, err := s.st.userByEmail(ctx, tx, inv.Email)
		switch {
		case err != nil:
			return err
		case !ok:
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
			if u, err = s.st.insertUser(ctx, tx, inv.Email, string(pwHash), in.Name, true); err != nil {
				if errors.Is(err, errEmailTaken) {
					return ErrLoginRequired // registered in the meantime
				}
				return err
			}
		default:
			if in.Caller == nil || in.Caller.UserID != u.ID {
				return ErrLoginRequired
			}
			if family, err = s.callerFamily(ctx, tx, *in.Caller); err != nil {
				return err
			}
			if !u.EmailVerified {
				// The invitation reached this mailbox: that proves the address.
				if err := s.st.markVerified(ctx, tx, u.ID); err != nil {
					return err
				}
				u.EmailVerified = true
			}
		}
		if err := s.st.addMemberIfAbsent(ctx, tx, inv.WorkspaceID, u.ID, inv.Role); err != nil {
			return err
		}
		m, err := s.st.membership(ctx, tx, u.ID, inv.WorkspaceID)
		if err != nil {
			return err
		}
		sess, err = s.newSession(ctx, tx, u, m, family)
		return err
	})
	return sess, err
}

var errLastOwner = apperr.E(apperr.Conflict, "The last owner of a workspace cannot be removed or demoted")

// SetRole changes a member's role, keeping at least one OWNER. The caller must still be an
// OWNER when the owner rows are locked.
func (s *Service) SetRole(ctx context.Context, p authn.Principal, userID string, role authn.Role) (memberRow, error) {
	var out memberRow
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		target, err := s.lockMember(ctx, tx, p, userID)
		if err != nil {
			return err
		}
		if target.Role == string(authn.RoleOwner) && role != authn.RoleOwner {
			if err := s.ensureAnotherOwner(ctx, tx, p.WorkspaceID); err != nil {
				return err
			}
		}
		if err := s.st.setRole(ctx, tx, p.WorkspaceID, userID, role); err != nil {
			return err
		}
		target.Role = string(role)
		out = target
		return nil
	})
	return out, err
}

// RemoveMember removes a member (keeping at least one OWNER), revokes their refresh tokens
// for the workspace and deletes the pending invitations they sent from it.
func (s *Service) RemoveMember(ctx context.Context, p authn.Principal, userID string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		target, err := s.lockMember(ctx, tx, p, userID)
		if err != nil {
			return err
		}
		if target.Role == string(authn.RoleOwner) {
			if err := s.ensureAnotherOwner(ctx, tx, p.WorkspaceID); err != nil {
				return err
			}
		}
		if err := s.st.deleteMember(ctx, tx, p.WorkspaceID, userID); err != nil {
			return err
		}
		if err := s.st.deleteInvitationsBy(ctx, tx, p.WorkspaceID, userID); err != nil {
			return err
		}
		return s.st.revokeUserWorkspace(ctx, tx, userID, p.WorkspaceID)
	})
}

// lockMember locks the workspace's owner rows, checks that the caller is still one of them
// (403 otherwise: a demotion or removal takes effect at once), then locks the target row.
func (s *Service) lockMember(ctx context.Context, tx *sqlx.Tx, p authn.Principal, userID string) (memberRow, error) {
	// Owner rows first, always in the same order, so concurrent changes cannot deadlock.
	owners, err := s.st.lockOwners(ctx, tx, p.WorkspaceID)
	if err != nil {
		return memberRow{}, err
	}
	if !slices.Contains(owners, p.UserID) {
		// Not an owner any more: say whether still a member.
		if err := s.st.requireRole(ctx, tx, p.WorkspaceID, p.UserID, authn.RoleOwner); err != nil {
			return memberRow{}, err
		}
		return memberRow{}, apperr.E(apperr.Forbidden, "This action requires the OWNER role")
	}
	return s.st.memberForUpdate(ctx, tx, p.WorkspaceID, userID) // 404 "Member not found"
}

func (s *Service) ensureAnotherOwner(ctx context.Context, tx *sqlx.Tx, workspaceID string) error {
	owners, err := s.st.lockOwners(ctx, tx, workspaceID)
	if err != nil {
		return err
	}
	if len(owners) <= 1 {
		return errLastOwner
	}
	return nil
}

// newSession issues an access token and a refresh token (in family, or a new family).
// The access token's jti is the refresh token's id, which is how switch-workspace finds the
// family of the session it is called from.
func (s *Service) newSession(ctx context.Context, tx *sqlx.Tx, u userRow, m membershipRow, family string) (*Session, error) {
	id := pg.NewID()
	access, err := s.issuer.Issue(authn.Principal{UserID: u.ID, WorkspaceID: m.WorkspaceID, Role: authn.Role(m.Role), TokenID: id})
	if err != nil {
		return nil, err
	}
	if family == "" {
		family = pg.NewID()
	}
	refresh := randomToken()
	row := refreshRow{ID: id, UserID: u.ID, WorkspaceID: m.WorkspaceID, FamilyID: family, ExpiresAt: time.Now().Add(s.refreshTTL)}
	if err := s.st.insertRefresh(ctx, tx, row, hashToken(refresh)); err != nil {
		return nil, err
	}
	return &Session{
		User: u, Workspace: m, AccessToken: access, ExpiresIn: int(s.issuer.TTL().Seconds()),
		RefreshToken: refresh, refreshID: id,
	}, nil
}

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
