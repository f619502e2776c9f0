package main

// "Secrets never leak", in the security suite: one full run of the application with every
// secret configured (and each third party faked), whose every response (body and headers),
// log line and Sentry event is then searched for each secret. Configured secrets and
// credentials (JWT_SECRET, CHANNEL_ENCRYPTION_KEY, the Stripe, OpenAI and Resend keys, the
// admin password, channel and integration credentials, passwords) may appear nowhere;
// session and e-mail tokens (access and refresh tokens, invitation/verification links) are
// for their owner's responses only and may appear in no log line or Sentry event.
//
// Not parallel: it installs a Sentry client (process-wide state) and starts a River worker.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

// sentryRecorder is a sentry.Transport that keeps every event (errors and transactions).
type sentryRecorder struct {
	mu     sync.Mutex
	events []*sentry.Event
}

func (r *sentryRecorder) Configure(sentry.ClientOptions)        {}
func (r *sentryRecorder) Flush(time.Duration) bool              { return true }
func (r *sentryRecorder) FlushWithContext(context.Context) bool { return true }
func (r *sentryRecorder) Close()                                {}
func (r *sentryRecorder) SendEvent(e *sentry.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *sentryRecorder) all() []*sentry.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sentry.Event{}, r.events...)
}

func (r *sentryRecorder) text(t *testing.T) (string, int, int) {
	t.Helper()
	var b strings.Builder
	errs, withRequest := 0, 0
	for _, e := range r.all() {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
		if e.Type != "transaction" {
			errs++
			if e.Request != nil {
				withRequest++
			}
		}
	}
	return b.String(), errs, withRequest
}

// fakeThirdParty records what it receives (where the keys legitimately go) and answers with
// the given handler.
type fakeThirdParty struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeThirdParty {
	t.Helper()
	f := &fakeThirdParty{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		h(w, r, b)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeThirdParty) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.bodies...)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestSecurityNoSecretLeaks(t *testing.T) {
	// Not parallel: see the file comment.
	rec := &sentryRecorder{}
	if _, err := observe.InitSentry(observe.SentryOptions{
		DSN: "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.invalid/42", Env: "test", Transport: rec,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sentry.Init(sentry.ClientOptions{}) })

	s := map[string]string{ // configured secrets and credentials: never anywhere
		"JWT_SECRET":             "jwt-" + randomHex(t, 24),
		"CHANNEL_ENCRYPTION_KEY": randomHex(t, 32),
		"STRIPE_SECRET_KEY":      "sk_test_" + randomHex(t, 16),
		"STRIPE_WEBHOOK_SECRET":  "whsec_" + randomHex(t, 16),
		"OPENAI_API_KEY":         "sk-proj-" + randomHex(t, 16),
		"RESEND_API_KEY":         "re_" + randomHex(t, 16),
		"ADMIN_PASSWORD":         "admin-" + randomHex(t, 12),
		"password":               "pw-" + randomHex(t, 10),
		"wrong password":         "guess-" + randomHex(t, 10),
		"new password":           "pw2-" + randomHex(t, 10),
		"whatsapp accessToken":   "EAAG" + randomHex(t, 16),
		"whatsapp appSecret":     "appsecret-" + randomHex(t, 12),
		"whatsapp verifyToken":   "verify-" + randomHex(t, 12),
		"slack botToken":         "xoxb-" + randomHex(t, 12),
		"slack signingSecret":    "signing-" + randomHex(t, 12),
		"telegram botToken":      "123456789:" + randomHex(t, 16),
		"sms authToken":          "twilio-auth-" + randomHex(t, 12),
		"zendesk apiToken":       "zd-" + randomHex(t, 14),
		"freshdesk apiKey":       "fd-" + randomHex(t, 14),
	}

	openai := fakeopenai.New(t)
	openai.SetAPIKey(s["OPENAI_API_KEY"])
	var resendCalls int
	var resendMu sync.Mutex
	resend := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		resendMu.Lock()
		resendCalls++
		first := resendCalls == 1
		resendMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if first { // one failed attempt: the job's error path (log + Sentry) runs too
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"statusCode":500,"name":"internal_server_error","message":"try again"}`))
			return
		}
		_, _ = fmt.Fprintf(w, `{"id":"%s"}`, uuid.NewString())
	})
	stripeAPI := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		// Stripe's answer to a key it does not accept (it masks the key, as Stripe does).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"Invalid API Key provided: sk_test_****` + s["STRIPE_SECRET_KEY"][len(s["STRIPE_SECRET_KEY"])-4:] + `","type":"invalid_request_error"}}`))
	})
	zendesk := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusUnauthorized) // the handoff falls back to e-mail and logs why
		_, _ = w.Write([]byte(`{"error":"Couldn't authenticate you"}`))
	})

	app := newSecApp(t, map[string]string{
		"JWT_SECRET": s["JWT_SECRET"], "CHANNEL_ENCRYPTION_KEY": s["CHANNEL_ENCRYPTION_KEY"],
		"STRIPE_SECRET_KEY": s["STRIPE_SECRET_KEY"], "STRIPE_WEBHOOK_SECRET": s["STRIPE_WEBHOOK_SECRET"],
		"STRIPE_API_BASE": stripeAPI.URL, "STRIPE_PRICE_BUILDER": "price_builder", "STRIPE_PRICE_PRO": "price_pro",
		"STRIPE_PRICE_TOPUP_2K": "price_2k", "STRIPE_PRICE_TOPUP_10K": "price_10k", "STRIPE_PRICE_TOPUP_50K": "price_50k",
		"OPENAI_API_KEY": s["OPENAI_API_KEY"], "OPENAI_BASE_URL": openai.URL(),
		"RESEND_API_KEY": s["RESEND_API_KEY"], "RESEND_BASE_URL": resend.URL, "RESEND_FROM": "Axon <noreply@example.com>",
		"ZENDESK_API_BASE": zendesk.URL, "ADMIN_PASSWORD": s["ADMIN_PASSWORD"], "LOG_LEVEL": "debug",
	}, nil)
	app.env.StartWorker()
	// The start-up line of `axon serve` (platform/cli/boot.go), through the same logger.
	app.env.Deps.Log.Info("configuration", "config", app.env.Deps.Config)

	var transcript strings.Builder
	tokens := map[string]string{} // session and e-mail tokens: responses only
	call := func(want int, r secReq, out any) *secRes {
		t.Helper()
		res := app.do(r)
		h, _ := json.Marshal(res.Header)
		fmt.Fprintf(&transcript, "%s %s → %d %s\n%s\n", r.Method, r.Path, res.Status, h, res.Body)
		if want != 0 && res.Status != want {
			t.Fatalf("%s %s = %d, want %d: %s", r.Method, r.Path, res.Status, want, res.Body)
		}
		if out != nil {
			if err := json.Unmarshal(res.Body, out); err != nil {
				t.Fatalf("%s %s: %v", r.Method, r.Path, err)
			}
		}
		return res
	}
	post := func(want int, path, tok string, body any, out any) *secRes {
		t.Helper()
		return call(want, secReq{Method: http.MethodPost, Path: path, Token: tok, Body: body}, out)
	}
	put := func(want int, path, tok string, body any) *secRes {
		t.Helper()
		return call(want, secReq{Method: http.MethodPut, Path: path, Token: tok, Body: body}, nil)
	}

	// Accounts: register, a failed and a good login, refresh through the body, a reset.
	addr := "leak-" + uuid.NewString()[:8] + "@example.com"
	var reg struct {
		AccessToken string
		Workspace   struct{ ID string }
	}
	res := post(http.StatusCreated, "/v1/auth/register", "", map[string]string{"name": "Lee Leak", "email": addr, "password": s["password"]}, &reg)
	owner := reg.AccessToken
	tokens["register access token"] = owner
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		tokens["register refresh cookie"] = c.Value
	}
	post(http.StatusUnauthorized, "/v1/auth/login", "", map[string]string{"email": addr, "password": s["wrong password"]}, nil)
	var li struct{ AccessToken string }
	res = post(http.StatusOK, "/v1/auth/login", "", map[string]string{"email": addr, "password": s["password"]}, &li)
	tokens["login access token"] = li.AccessToken
	var refreshCookie *http.Cookie
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		refreshCookie = c
		tokens["login refresh cookie"] = c.Value
	}
	var rb struct{ AccessToken, RefreshToken string }
	post(http.StatusOK, "/v1/auth/refresh", "", map[string]string{"refreshToken": refreshCookie.Value}, &rb)
	tokens["body refresh token"] = rb.RefreshToken
	// Reuse of the spent token (logged as a warning with the family id, never the token).
	post(http.StatusUnauthorized, "/v1/auth/refresh", "", map[string]string{"refreshToken": refreshCookie.Value}, nil)
	var li2 struct{ AccessToken string }
	post(http.StatusOK, "/v1/auth/login", "", map[string]string{"email": addr, "password": s["password"]}, &li2)
	owner = li2.AccessToken
	tokens["second login access token"] = owner
	post(http.StatusAccepted, "/v1/auth/forgot-password", "", map[string]string{"email": addr}, nil)
	post(http.StatusCreated, "/v1/workspace/invitations", owner, map[string]string{"email": "invitee-" + uuid.NewString()[:8] + "@example.com", "role": "ADMIN"}, nil)
	post(http.StatusUnauthorized, "/v1/auth/refresh", "", map[string]string{"refreshToken": "not-a-token-" + randomHex(t, 8)}, nil)

	// Channels and integrations with credentials.
	put(http.StatusOK, "/v1/channels/WHATSAPP", owner, map[string]any{"isActive": true, "credentials": map[string]string{
		"phoneNumberId": "1098765432", "accessToken": s["whatsapp accessToken"], "appSecret": s["whatsapp appSecret"], "verifyToken": s["whatsapp verifyToken"],
	}})
	put(http.StatusOK, "/v1/channels/SLACK", owner, map[string]any{"isActive": true, "credentials": map[string]string{
		"botToken": s["slack botToken"], "signingSecret": s["slack signingSecret"],
	}})
	put(http.StatusOK, "/v1/channels/SMS", owner, map[string]any{"isActive": false, "credentials": map[string]string{
		"accountSid": "AC" + randomHex(t, 16), "authToken": s["sms authToken"], "fromNumber": "+15551230000",
	}})
	// A credential that fails validation: the 400 must not echo it.
	put(http.StatusBadRequest, "/v1/channels/TELEGRAM", owner, map[string]any{"isActive": false, "credentials": map[string]string{"botToken": s["telegram botToken"] + " not valid"}})
	call(http.StatusOK, secReq{Path: "/v1/channels", Token: owner}, nil)
	put(http.StatusOK, "/v1/integrations/ZENDESK", owner, map[string]string{"subdomain": "leaky", "email": "ops@example.com", "apiToken": s["zendesk apiToken"]})
	put(http.StatusOK, "/v1/integrations/FRESHDESK", owner, map[string]string{"domain": "leaky.freshdesk.com", "apiKey": s["freshdesk apiKey"]})

	// An agent with knowledge (embedded through the fake OpenAI), chats, a failing chat.
	var agent struct{ ID string }
	post(http.StatusCreated, "/v1/agents", owner, map[string]any{
		"name": "Leaky", "systemPrompt": "Answer from the knowledge.", "handoffEnabled": true, "handoffDest": "ZENDESK",
	}, &agent)
	post(http.StatusAccepted, "/v1/agents/"+agent.ID+"/knowledge", owner, map[string]any{
		"type": "TEXT", "title": "Hours", "content": "We are open Monday to Friday from nine to five, and on Saturday mornings.",
	}, nil)
	var chat struct{ ConversationID string }
	post(http.StatusOK, "/v1/agents/"+agent.ID+"/chat", owner, map[string]any{"message": "When are you open?"}, &chat)
	post(http.StatusOK, "/v1/agents/"+agent.ID+"/chat", owner, map[string]any{"message": "When are you open on Saturday?", "stream": true}, nil)
	openai.FailNext(50, http.StatusInternalServerError, "0")
	post(http.StatusOK, "/v1/agents/"+agent.ID+"/chat", owner, map[string]any{"message": "And on Sunday?"}, nil)
	openai.FailNext(0, 0, "")
	// A handoff to Zendesk, which refuses the token: the fallback to e-mail is logged.
	post(http.StatusOK, "/v1/agents/"+agent.ID+"/chat", owner, map[string]any{"message": "I want to speak to a human", "conversationId": chat.ConversationID}, nil)
	// The widget, and the SSE route with its token in the query.
	var sess struct{ SessionToken string }
	post(http.StatusCreated, "/v1/widget/"+agent.ID+"/sessions", "", map[string]any{}, &sess)
	tokens["widget session token"] = sess.SessionToken
	post(http.StatusOK, "/v1/widget/"+agent.ID+"/messages", sess.SessionToken, map[string]any{"content": "Are you open today?"}, nil)
	call(0, secReq{Path: "/v1/events?access_token=" + url.QueryEscape(owner) + "&conversationId=" + uuid.NewString()}, nil)
	call(http.StatusNotFound, secReq{Path: "/v1/no-such-route?token=" + url.QueryEscape(owner), Token: owner}, nil)

	// Billing: Stripe refuses the key on checkout; a signed webhook is processed by the worker.
	call(0, secReq{Method: http.MethodPost, Path: "/v1/billing/checkout", Token: owner, Body: map[string]string{"plan": "PRO"}}, nil)
	ev := map[string]any{
		"id": "evt_" + randomHex(t, 12), "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"livemode": false, "type": "checkout.session.completed", "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": "cs_test_" + randomHex(t, 10), "object": "checkout.session", "mode": "payment", "status": "complete",
			"payment_status": "paid", "client_reference_id": reg.Workspace.ID, "metadata": map[string]any{"workspaceId": reg.Workspace.ID, "pack": "2k"},
			"customer": "cus_" + randomHex(t, 6), "currency": "usd", "amount_total": 2000,
		}},
	}
	evBody, _ := json.Marshal(ev)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: evBody, Secret: s["STRIPE_WEBHOOK_SECRET"]})
	call(http.StatusOK, secReq{Method: http.MethodPost, Path: "/v1/webhooks/stripe", Body: evBody, Header: map[string]string{"Stripe-Signature": signed.Header}}, nil)
	call(http.StatusUnauthorized, secReq{Method: http.MethodPost, Path: "/v1/webhooks/stripe", Body: evBody, Header: map[string]string{"Stripe-Signature": "t=1,v1=" + randomHex(t, 32)}}, nil)
	// Metrics behind basic auth, with a wrong and the right password.
	call(http.StatusUnauthorized, secReq{Path: "/metrics", Header: map[string]string{"Authorization": "Basic " + basic("ops", s["ADMIN_PASSWORD"]+"x")}}, nil)
	call(http.StatusOK, secReq{Path: "/metrics", Header: map[string]string{"Authorization": "Basic " + basic("ops", s["ADMIN_PASSWORD"])}}, nil)

	// Wait for the jobs: the Stripe event, the e-mails (one refused, then retried) and the
	// ingestion.
	apitest.Eventually(t, 30*time.Second, func() bool {
		var pending int
		_ = app.env.DB.Get(&pending, `SELECT count(*) FROM river_job WHERE state IN ('available','running','retryable','scheduled') AND kind <> 'ops.prune'`)
		return pending == 0
	}, "jobs drained")
	if len(resend.received()) < 2 {
		t.Fatalf("resend received %d requests, want the e-mails", len(resend.received()))
	}
	// The raw e-mail tokens, as the recipients got them.
	linkRe := regexp.MustCompile(`[?&]token=([A-Za-z0-9_\-.%]+)`)
	for i, b := range resend.received() {
		var m struct{ HTML string }
		_ = json.Unmarshal([]byte(b), &m)
		for _, mm := range linkRe.FindAllStringSubmatch(m.HTML, -1) {
			if v, err := url.QueryUnescape(mm[1]); err == nil && len(v) >= 16 {
				tokens[fmt.Sprintf("e-mail token %d", i)] = v
			}
		}
	}
	if len(openai.Requests()) == 0 {
		t.Fatal("the fake OpenAI was never called")
	}

	logs := app.env.LogText()
	events, errEvents, withRequest := rec.text(t)
	for _, e := range rec.all() {
		if e.Type != "transaction" {
			var ex string
			if len(e.Exception) > 0 {
				ex = e.Exception[0].Value
			}
			t.Logf("sentry event: tags %v, with a request: %v: %.200s", e.Tags, e.Request != nil, ex)
		}
	}
	if errEvents == 0 || withRequest == 0 {
		t.Fatalf("Sentry recorded %d error events (%d with a request): the scan would prove nothing", errEvents, withRequest)
	}
	outputs := map[string]string{"responses": transcript.String(), "logs": logs, "Sentry events": events}
	for name, secret := range s {
		for where, text := range outputs {
			if strings.Contains(text, secret) {
				t.Errorf("%s leaks in %s: %s", name, where, around(text, secret))
			}
		}
	}
	for name, tok := range tokens {
		if tok == "" {
			continue
		}
		for _, where := range []string{"logs", "Sentry events"} {
			if strings.Contains(outputs[where], tok) {
				t.Errorf("%s leaks in %s: %s", name, where, around(outputs[where], tok))
			}
		}
	}
	t.Logf("scanned %d secrets and %d tokens in %d bytes of responses, %d of logs and %d Sentry events (%d errors, %d with a request)",
		len(s), len(tokens), transcript.Len(), len(logs), len(rec.all()), errEvents, withRequest)
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// around shows where a secret was found (with the secret itself masked).
func around(text, secret string) string {
	i := strings.Index(text, secret)
	lo, hi := max(0, i-160), min(len(text), i+len(secret)+80)
	return strings.ReplaceAll(text[lo:hi], secret, "<SECRET>")
}
