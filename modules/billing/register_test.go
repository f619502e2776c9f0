package billing

import (
	"bytes"
	"testing"
	"time"

	"github.com/axonhq/axon/modules/auth"
	"github.com/axonhq/axon/modules/email"
	"github.com/axonhq/axon/modules/internal/apptest"
	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/pg"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

// Sign-up as a new user would do it, wired as main.go wires it: 500 STARTER credits granted
// in the registration transaction.
func TestRegisterGrantsStarterCredits(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		box, err := secretbox.New(bytes.Repeat([]byte{3}, secretbox.KeySize), nil)
		if err != nil {
			return nil, err
		}
		mail, err := email.New(email.Deps{DB: d.DB, Queue: d.Queue, Sender: email.LogSender{Log: d.Log}, Log: d.Log, AppURL: "http://localhost:3000", Box: box})
		if err != nil {
			return nil, err
		}
		// The order of main.go: the directory, then billing, then auth with billing's grant.
		dir := auth.NewDirectory(d.DB)
		bill, err := New(Deps{
			DB: d.DB, Queue: d.Queue, Publisher: d.Publisher, Mailer: mail.Mailer(), Roles: dir, Addresses: dir, Log: d.Log,
			Authed: d.Authed,
		})
		if err != nil {
			return nil, err
		}
		authMod, err := auth.New(auth.Deps{
			DB: d.DB, Queue: d.Queue, Issuer: d.Issuer, Limiter: d.Limiter, Mailer: mail.Mailer(), Log: d.Log,
			SignupGrant: bill.SignupGrant,
			BcryptCost:  4, RefreshTTL: time.Hour, AppURL: "http://localhost:3000",
		})
		if err != nil {
			return nil, err
		}
		return []kernel.Module{authMod, bill, mail}, nil
	})
	r := env.Post("/v1/auth/register", "", map[string]any{"name": "Ada Lovelace", "email": "ada-" + pg.NewID() + "@example.com", "password": "correct horse battery"})
	if r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	token, _ := r.Map(t)["accessToken"].(string)
	var cr struct {
		Balance int    `json:"balance"`
		Plan    string `json:"plan"`
	}
	r = env.Get("/v1/billing/credits", token)
	r.JSON(t, &cr)
	if r.Status != 200 || cr.Balance != 500 || cr.Plan != "STARTER" {
		t.Fatalf("credits after sign-up: %d %s", r.Status, r.Body)
	}
	var ledger struct {
		Items []struct {
			Delta  int    `json:"delta"`
			Reason string `json:"reason"`
		} `json:"items"`
	}
	env.Get("/v1/billing/ledger", token).JSON(t, &ledger)
	if len(ledger.Items) != 1 || ledger.Items[0].Delta != 500 || ledger.Items[0].Reason != "PLAN_GRANT" {
		t.Fatalf("ledger after sign-up: %+v", ledger.Items)
	}
}
