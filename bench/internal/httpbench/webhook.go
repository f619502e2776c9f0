package httpbench

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/axonhq/axon/bench/internal/load"
)

// ErrNotBuilt is returned by Webhook while axon has no WhatsApp webhook route.
var ErrNotBuilt = errors.New("POST /v1/webhooks/:slug/whatsapp is not built yet")

// WebhookOptions configures the inbound-webhook scenario.
type WebhookOptions struct {
	Conc   int           // concurrent senders (default 32)
	Dur    time.Duration // measured time per server (default 10 s)
	Rounds int           // alternating rounds (default 4)
	// CPUProfile, when set (and Env started with Profile), receives a CPU profile of
	// axon serve taken during an extra round after the measured ones.
	CPUProfile string
}

// WebhookResult is a verified WhatsApp message (verify, store, enqueue) against the
// baseline's bare INSERT + River insert of the same body.
// FullCPU and BaseCPU are the CPU per request of each server, Redis and Postgres during
// its rounds (as AuthResult's).
type WebhookResult struct {
	Full, Base       load.Result
	FullCPU, BaseCPU CPUShare
}

// probeWebhook reports whether axon serves the WhatsApp webhook: an unknown slug answers 404
// from the module (or 401 for the signature), not echo's "Route not found" / 405.
func (e *Env) probeWebhook() (bool, error) {
	res, err := http.Post(e.ServeURL+"/v1/webhooks/bench-probe-slug/whatsapp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusMethodNotAllowed || (res.StatusCode == http.StatusNotFound && strings.Contains(string(b), "Route not found")) {
		return false, nil
	}
	return true, nil
}

// Webhook sends signed WhatsApp text messages, each with its own message id, to a WhatsApp
// channel linked to an agent (set up through the API as SPEC describes it), and the same
// bodies to the baseline's POST /webhook. It returns ErrNotBuilt while the route is absent.
func (e *Env) Webhook(o WebhookOptions) (WebhookResult, error) {
	if o.Conc <= 0 {
		o.Conc = 32
	}
	if o.Dur <= 0 {
		o.Dur = 10 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 4
	}
	ok, err := e.probeWebhook()
	if err != nil {
		return WebhookResult{}, err
	}
	if !ok {
		return WebhookResult{}, ErrNotBuilt
	}
	const appSecret, phoneID = "bench-app-secret-0123456789", "100200300400"
	slug, err := e.whatsappChannel(appSecret, phoneID)
	if err != nil {
		return WebhookResult{}, fmt.Errorf("webhook set-up: %w", err)
	}
	var seq atomic.Int64
	stamp := time.Now().UnixNano()
	body := func() []byte {
		n := seq.Add(1)
		b, _ := json.Marshal(map[string]any{
			"object": "whatsapp_business_account",
			"entry": []any{map[string]any{"id": "bench", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
				"messaging_product": "whatsapp",
				"metadata":          map[string]any{"display_phone_number": "15550000000", "phone_number_id": phoneID},
				"contacts":          []any{map[string]any{"profile": map[string]any{"name": "Bench"}, "wa_id": fmt.Sprintf("1555%07d", n%1000)}},
				"messages": []any{map[string]any{
					"from": fmt.Sprintf("1555%07d", n%1000), "id": fmt.Sprintf("wamid.bench.%d.%d", stamp, n),
					"timestamp": fmt.Sprint(time.Now().Unix()), "type": "text", "text": map[string]any{"body": "When are you open?"},
				}},
			}}}}},
		})
		return b
	}
	full := func(int, int) *http.Request {
		b := body()
		m := hmac.New(sha256.New, []byte(appSecret))
		m.Write(b)
		r, _ := http.NewRequest(http.MethodPost, e.ServeURL+"/v1/webhooks/"+slug+"/whatsapp", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		return r
	}
	base := func(int, int) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, e.BareURL+"/webhook", bytes.NewReader(body()))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	if r := load.Run("warm-up", 2, 500*time.Millisecond, full); r.Errors > 0 {
		return WebhookResult{}, fmt.Errorf("webhook warm-up: %d of %d requests failed", r.Errors, r.Requests)
	}
	load.Run("warm-up", 2, 500*time.Millisecond, base)
	per := o.Dur / time.Duration(o.Rounds)
	var fulls, bases []load.Result
	fm, bm := e.meters(e.ServePID()), e.meters(e.BarePID())
	for r := range o.Rounds {
		f := func() {
			fulls = append(fulls, metered(fm, func() load.Result { return load.Run("full", o.Conc, per, full) }))
		}
		b := func() {
			bases = append(bases, metered(bm, func() load.Result { return load.Run("base", o.Conc, per, base) }))
		}
		if r%2 == 0 {
			f()
			b()
		} else {
			b()
			f()
		}
	}
	res := WebhookResult{
		Full: load.Merge("POST /v1/webhooks/:slug/whatsapp (axon serve)", fulls...),
		Base: load.Merge("POST /webhook (echo: INSERT + River insert)", bases...),
	}
	res.FullCPU, res.BaseCPU = share(fm, res.Full), share(bm, res.Base)
	if o.CPUProfile != "" {
		d := max(per, 5*time.Second)
		if err := e.profile(o.CPUProfile, d, func() { load.Run("profiled", o.Conc, d+time.Second, full) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// whatsappChannel registers an owner, creates an agent, configures and activates the
// workspace's WhatsApp channel, links it to the agent and returns the webhook slug.
func (e *Env) whatsappChannel(appSecret, phoneID string) (string, error) {
	owner, err := e.registerOne(fmt.Sprintf("bench-webhook-%d@example.com", time.Now().UnixNano()), addresses(1, 19)[0])
	if err != nil {
		return "", err
	}
	var agent struct {
		ID string `json:"id"`
	}
	if err := e.api(owner.token, http.MethodPost, "/v1/agents", map[string]any{"name": "Bench", "systemPrompt": "You answer questions."}, &agent); err != nil {
		return "", err
	}
	creds := map[string]any{"isActive": true, "credentials": map[string]any{
		"phoneNumberId": phoneID, "accessToken": "bench-access-token", "appSecret": appSecret, "verifyToken": "bench-verify",
	}}
	if err := e.api(owner.token, http.MethodPut, "/v1/channels/WHATSAPP", creds, nil); err != nil {
		return "", err
	}
	if err := e.api(owner.token, http.MethodPut, "/v1/agents/"+agent.ID+"/channels/WHATSAPP", map[string]any{"isActive": true}, nil); err != nil {
		return "", err
	}
	var list struct {
		Items []struct {
			Type       string `json:"type"`
			WebhookURL string `json:"webhookUrl"`
		} `json:"items"`
	}
	if err := e.api(owner.token, http.MethodGet, "/v1/channels", nil, &list); err != nil {
		return "", err
	}
	for _, c := range list.Items {
		if c.Type == "WHATSAPP" {
			// …/v1/webhooks/<slug>/whatsapp
			parts := strings.Split(strings.TrimRight(c.WebhookURL, "/"), "/")
			if len(parts) >= 2 {
				return parts[len(parts)-2], nil
			}
		}
	}
	return "", fmt.Errorf("no WHATSAPP webhookUrl in GET /v1/channels")
}

// api sends one authenticated JSON request and decodes a 2xx answer into out.
func (e *Env) api(token, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.ServeURL+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
