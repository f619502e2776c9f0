package email

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/kernel"
	"github.com/axonhq/axon/platform/secretbox"
	"github.com/axonhq/axon/platform/testkit/apitest"
)

func setupWithBox(t *testing.T, fake *fakeResend) (*apitest.Env, *Module) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mod *Module
	env := apitest.New(t, apitest.Options{}, func(d *kernel.Deps) ([]kernel.Module, error) {
		sender, err := NewResend("re_test_key", "Axon <noreply@example.com>", srv.URL)
		if err != nil {
			return nil, err
		}
		mod, err = New(Deps{DB: d.DB, Queue: d.Queue, Sender: sender, Log: d.Log, AppURL: "https://app.example.com", Box: box})
		return []kernel.Module{mod}, err
	})
	return env, mod
}

// A link with a token is sealed in the emails row, absent from data and job args, sent in
// the e-mail, and wiped from the row once sent.
// Not parallel: it starts a worker (see TestSendThroughResend).
func TestSecretFieldsAreSealedAndWipedAfterSend(t *testing.T) {
	fake := &fakeResend{}
	env, mod := setupWithBox(t, fake)
	const token = "RAWTOKEN-d41d8cd98f00b204e9800998ecf8427e"
	link := "https://app.example.com/reset-password?token=" + token
	addr := "reset-" + time.Now().Format("150405.000000") + "@example.com"
	id := enqueue(t, env, mod, Message{
		To: addr, Template: TemplateResetPassword,
		Data:   map[string]any{"Name": "Ann", "ExpiresIn": "1 hour"},
		Secret: map[string]string{"ResetURL": link},
	})
	stored := func() (all string, hasSecret bool) {
		var r struct {
			Data   string  `db:"data"`
			Secret []byte  `db:"secret"`
			Args   *string `db:"args"`
		}
		if err := env.DB.Get(&r, `SELECT e.data::text AS data, e.secret,
  (SELECT string_agg(args::text, ' ') FROM river_job WHERE args->>'emailId' = e.id::text) AS args
FROM emails e WHERE e.id = $1`, id); err != nil {
			t.Fatal(err)
		}
		args := ""
		if r.Args != nil {
			args = *r.Args
		}
		return r.Data + " " + string(r.Secret) + " " + args, len(r.Secret) > 0
	}
	all, sealed := stored()
	if !sealed || strings.Contains(all, token) {
		t.Fatalf("queued row: sealed=%v, raw token in row or job args=%v", sealed, strings.Contains(all, token))
	}
	env.StartWorker()
	apitest.Eventually(t, 10*time.Second, func() bool { st, _ := status(t, env, id); return st == "SENT" }, "email SENT")
	// Other tests' queued jobs share the database and may reach this fake too: look for ours.
	fake.mu.Lock()
	var sent []string
	for _, r := range fake.requests {
		if to, _ := r["to"].([]any); len(to) == 1 && to[0] == addr {
			html, _ := r["html"].(string)
			sent = append(sent, html)
		}
	}
	fake.mu.Unlock()
	if len(sent) != 1 || !strings.Contains(sent[0], link) {
		t.Fatalf("sent to %s: %d e-mails, want 1 with the link: %v", addr, len(sent), sent)
	}
	if all, sealed := stored(); sealed || strings.Contains(all, token) {
		t.Errorf("after send: secret kept=%v, raw token present=%v", sealed, strings.Contains(all, token))
	}
	if strings.Contains(env.LogText(), token) {
		t.Error("the raw token reached the log")
	}
}

func TestSecretNeedsABox(t *testing.T) {
	t.Parallel()
	env, mod := setup(t, &fakeResend{})
	err := env.DB.InTx(context.Background(), func(tx *sqlx.Tx) error {
		_, err := mod.Mailer().Enqueue(context.Background(), tx, Message{
			To: "a@example.com", Template: TemplateVerifyEmail, Secret: map[string]string{"VerifyURL": "x"},
		})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "secretbox") {
		t.Fatalf("err = %v, want ErrNoSecretBox", err)
	}
}
