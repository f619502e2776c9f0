package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/axonhq/axon/modules/email/mail"
	"github.com/axonhq/axon/platform/authn"
)

// Account recovery and e-mail proof. Tokens sent by e-mail are 32 random bytes; only their
// sha256 is stored (email_tokens), and the link carrying the raw token is handed to the
// mailer as a sealed secret field, wiped once the e-mail is sent.

// sendVerification stores a VERIFY_EMAIL token for u and enqueues its e-mail in tx.
func (s *Service) sendVerification(ctx context.Context, tx *sqlx.Tx, u userRow) error {
	token := randomToken()
	if err := s.st.insertEmailToken(ctx, tx, u.ID, purposeVerifyEmail, hashToken(token), time.Now().Add(VerifyEmailTTL)); err != nil {
		return err
	}
	_, err := s.mailer.Enqueue(ctx, tx, mail.Message{
		To: u.Email, Template: mail.TemplateVerifyEmail,
		Data:   map[string]any{"Name": u.Name, "ExpiresIn": "48 hours"},
		Secret: map[string]string{"VerifyURL": s.appURL + "/verify-email?token=" + token},
	})
	return err
}

// ResendVerification e-mails a new verification link (the earlier ones stop working); it
// does nothing for an address already verified.
func (s *Service) ResendVerification(ctx context.Context, p authn.Principal) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		u, err := s.st.userByID(ctx, tx, p.UserID, true)
		if err != nil {
			return err
		}
		if u.EmailVerified {
			return nil
		}
		return s.sendVerification(ctx, tx, u)
	})
}

// VerifyEmail consumes a verification token and marks the address verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		t, err := s.st.useEmailToken(ctx, tx, hashToken(token), purposeVerifyEmail)
		if err != nil {
			return err
		}
		return s.st.markVerified(ctx, tx, t.UserID)
	})
}

// ForgotPassword enqueues the auth.send_password_reset job and returns: the request does the
// same work whether or not the address has an account, so neither the answer nor its timing
// tells which. The job looks the address up and e-mails a reset link when it exists.
func (s *Service) ForgotPassword(ctx context.Context, emailAddr string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := s.queue.InsertTx(ctx, tx.Tx, SendPasswordResetArgs{Email: emailAddr}, nil)
		return err
	})
}

// sendPasswordReset stores a RESET_PASSWORD token (valid ResetPasswordTTL, the user's earlier
// ones retired) and enqueues its e-mail; an unknown address is a silent no-op.
func (s *Service) sendPasswordReset(ctx context.Context, emailAddr string) error {
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		u, ok, err := s.st.userByEmail(ctx, tx, emailAddr)
		if err != nil || !ok {
			return err // an unknown address: nothing to send
		}
		token := randomToken()
		if err := s.st.insertEmailToken(ctx, tx, u.ID, purposeResetPassword, hashToken(token), time.Now().Add(ResetPasswordTTL)); err != nil {
			return err
		}
		_, err = s.mailer.Enqueue(ctx, tx, mail.Message{
			To: u.Email, Template: mail.TemplateResetPassword,
			Data:   map[string]any{"Name": u.Name, "ExpiresIn": "1 hour"},
			Secret: map[string]string{"ResetURL": s.appURL + "/reset-password?token=" + token},
		})
		return err
	})
}

// ResetPassword consumes a reset token: it sets the password, marks the address verified
// (the link reached the mailbox) and revokes every refresh token of the user, so every
// session ends at its access token's expiry.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("auth: hash: %w", err)
	}
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		t, err := s.st.useEmailToken(ctx, tx, hashToken(token), purposeResetPassword)
		if err != nil {
			return err
		}
		if err := s.st.setPassword(ctx, tx, t.UserID, string(hash)); err != nil {
			return err
		}
		if err := s.st.retireEmailTokens(ctx, tx, t.UserID, purposeResetPassword); err != nil {
			return err
		}
		return s.st.revokeUserTokens(ctx, tx, t.UserID)
	})
}
