package fakeplatforms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// post sends a raw request and returns the status, the Retry-After header and the decoded
// JSON answer.
func post(t *testing.T, u, contentType, body string, header map[string]string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %q", raw)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

const jsonCT = "application/json"

func TestAuthIsChecked(t *testing.T) {
	t.Parallel()
	f := New(t)
	c := f.Creds()
	wa := `{"messaging_product":"whatsapp","to":"1555","type":"text","text":{"body":"hi"}}`
	ms := `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`
	tg := `{"chat_id":1,"text":"hi"}`
	sl := `{"channel":"C1","text":"hi"}`
	tw := url.Values{"To": {"+15551"}, "From": {c.FromNumber}, "Body": {"hi"}}.Encode()
	re := `{"from":"a@b.test","to":["c@d.test"],"subject":"s","text":"hi"}`
	form := "application/x-www-form-urlencoded"
	twURL := f.TwilioBase() + "/2010-04-01/Accounts/" + c.AccountSID + "/Messages.json"
	basic := func(u, p string) map[string]string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(u, p)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	cases := []struct {
		name, url, ct, body string
		header              map[string]string
		status              int
		check               func(map[string]any) bool
	}{
		{"whatsapp ok", f.GraphBase() + "/" + c.PhoneNumberID + "/messages", jsonCT, wa, bearer(c.WhatsAppToken), 200, func(m map[string]any) bool { return str(m, "messaging_product") == "whatsapp" }},
		{"whatsapp token in query", f.GraphBase() + "/" + c.PhoneNumberID + "/messages?access_token=" + c.WhatsAppToken, jsonCT, wa, nil, 200, nil},
		{"whatsapp wrong token", f.GraphBase() + "/" + c.PhoneNumberID + "/messages", jsonCT, wa, bearer("nope"), 401, func(m map[string]any) bool { return str(m, "error.code") == "190" }},
		{"whatsapp page token is not accepted", f.GraphBase() + "/" + c.PhoneNumberID + "/messages", jsonCT, wa, bearer(c.PageAccessToken), 401, nil},
		{"whatsapp unknown phone id", f.GraphBase() + "/999/messages", jsonCT, wa, bearer(c.WhatsAppToken), 400, func(m map[string]any) bool { return str(m, "error.error_subcode") == "33" }},
		{"whatsapp too long", f.GraphBase() + "/" + c.PhoneNumberID + "/messages", jsonCT, strings.Replace(wa, `"hi"`, `"`+strings.Repeat("x", 4097)+`"`, 1), bearer(c.WhatsAppToken), 400, nil},
		{"messenger ok", f.GraphBase() + "/me/messages", jsonCT, ms, bearer(c.PageAccessToken), 200, func(m map[string]any) bool { return str(m, "recipient_id") == "1" }},
		{"messenger wrong token", f.GraphBase() + "/me/messages", jsonCT, ms, bearer(c.WhatsAppToken), 401, nil},
		{"messenger 2001 chars", f.GraphBase() + "/me/messages", jsonCT, strings.Replace(ms, `"hi"`, `"`+strings.Repeat("x", 2001)+`"`, 1), bearer(c.PageAccessToken), 400, nil},
		{"telegram ok", f.TelegramBase() + "/bot" + c.BotToken + "/sendMessage", jsonCT, tg, nil, 200, func(m map[string]any) bool { return m["ok"] == true && str(m, "result.text") == "hi" }},
		{"telegram wrong token", f.TelegramBase() + "/bot1:nope/sendMessage", jsonCT, tg, nil, 401, func(m map[string]any) bool { return m["ok"] == false && str(m, "description") == "Unauthorized" }},
		{"telegram 4097 UTF-16 units", f.TelegramBase() + "/bot" + c.BotToken + "/sendMessage", jsonCT, `{"chat_id":1,"text":"` + strings.Repeat("x", 4095) + `😀"}`, nil, 400, nil},
		{"telegram unknown method", f.TelegramBase() + "/bot" + c.BotToken + "/sendNothing", jsonCT, `{}`, nil, 404, nil},
		{"slack ok", f.SlackBase() + "/chat.postMessage", jsonCT, sl, bearer(c.SlackBotToken), 200, func(m map[string]any) bool { return m["ok"] == true && str(m, "channel") == "C1" }},
		{"slack no token", f.SlackBase() + "/chat.postMessage", jsonCT, sl, nil, 200, func(m map[string]any) bool { return str(m, "error") == "not_authed" }},
		{"slack wrong token", f.SlackBase() + "/chat.postMessage", jsonCT, sl, bearer("xoxb-nope"), 200, func(m map[string]any) bool { return str(m, "error") == "invalid_auth" }},
		{"slack too long", f.SlackBase() + "/chat.postMessage", jsonCT, `{"channel":"C1","text":"` + strings.Repeat("x", 40001) + `"}`, bearer(c.SlackBotToken), 200, func(m map[string]any) bool { return str(m, "error") == "msg_too_long" }},
		{"twilio ok", twURL, form, tw, basic(c.AccountSID, c.AuthToken), 201, func(m map[string]any) bool { return strings.HasPrefix(str(m, "sid"), "SM") }},
		{"twilio wrong token", twURL, form, tw, basic(c.AccountSID, "nope"), 401, func(m map[string]any) bool { return str(m, "code") == "20003" }},
		{"twilio no auth", twURL, form, tw, nil, 401, nil},
		{"twilio other account in path", strings.Replace(twURL, c.AccountSID, "AC00000000000000000000000000000000", 1), form, tw, basic(c.AccountSID, c.AuthToken), 401, nil},
		{"twilio 1601 chars", twURL, form, url.Values{"To": {"+1"}, "From": {"+2"}, "Body": {strings.Repeat("x", 1601)}}.Encode(), basic(c.AccountSID, c.AuthToken), 400, func(m map[string]any) bool { return str(m, "code") == "21617" }},
		{"resend ok", f.ResendBase() + "/emails", jsonCT, re, bearer(c.ResendAPIKey), 200, func(m map[string]any) bool { return str(m, "id") != "" }},
		{"resend no key", f.ResendBase() + "/emails", jsonCT, re, nil, 401, func(m map[string]any) bool { return str(m, "name") == "missing_api_key" }},
		{"resend wrong key", f.ResendBase() + "/emails", jsonCT, re, bearer("re_nope"), 403, func(m map[string]any) bool { return str(m, "name") == "invalid_api_key" }},
		{"resend no subject", f.ResendBase() + "/emails", jsonCT, `{"from":"a@b.test","to":["c@d.test"],"text":"hi"}`, bearer(c.ResendAPIKey), 422, nil},
		{"unknown path", f.URL() + "/nothing", jsonCT, `{}`, nil, 404, nil},
	}
	for _, tc := range cases {
		status, _, m := post(t, tc.url, tc.ct, tc.body, tc.header)
		if status != tc.status || (tc.check != nil && !tc.check(m)) {
			t.Errorf("%s: %d %v; want %d", tc.name, status, m, tc.status)
		}
	}
	// Sent counts only accepted sends; Requests counts all.
	for p, n := range map[string]int{WhatsApp: 2, Messenger: 1, Telegram: 1, Slack: 1, Twilio: 1, Resend: 1} {
		if got := len(f.Sent(p)); got != n {
			t.Errorf("Sent(%s) = %d, want %d", p, got, n)
		}
	}
	if got := f.Texts(Twilio); len(got) != 1 || got[0] != "hi" {
		t.Errorf("Texts(twilio) = %q", got)
	}
	if got := len(f.Requests("")); got != len(cases) {
		t.Errorf("Requests(\"\") = %d, want %d", got, len(cases))
	}
}

func TestFaultPlan(t *testing.T) {
	t.Parallel()
	f := New(t)
	tok := f.Creds().BotToken
	u := f.TelegramBase() + "/bot" + tok + "/sendMessage"
	body := `{"chat_id":1,"text":"hi"}`

	f.Fail(Telegram, Fault{Status: 500, Times: 2})
	f.Fail(Telegram, Fault{Status: 429, RetryAfter: "9"})
	f.Fail(Telegram, Fault{Op: "setWebhook", Status: 400, Message: "Bad Request: nope"})
	want := []int{500, 500, 429, 200}
	for i, w := range want {
		status, ra, m := post(t, u, jsonCT, body, nil)
		if status != w {
			t.Fatalf("request %d: %d, want %d", i, status, w)
		}
		if w == 429 && (ra != "9" || str(m, "parameters.retry_after") != "9" || str(m, "error_code") != "429") {
			t.Errorf("429 answer: Retry-After %q, %v", ra, m)
		}
	}
	// The setWebhook fault is still waiting for its op.
	if status, _, m := post(t, f.TelegramBase()+"/bot"+tok+"/setWebhook", jsonCT, `{"url":"https://x.test/h"}`, nil); status != 400 || str(m, "description") != "Bad Request: nope" {
		t.Errorf("setWebhook fault: %d %v", status, m)
	}
	// Skip lets the first request through; Times -1 keeps failing until cleared.
	f.Fail(Slack, Fault{Skip: 1, Times: -1, Status: 200, Code: "channel_not_found"})
	sl := f.SlackBase() + "/chat.postMessage"
	auth := map[string]string{"Authorization": "Bearer " + f.Creds().SlackBotToken}
	var got []string
	for range 3 {
		_, _, m := post(t, sl, jsonCT, `{"channel":"C1","text":"x"}`, auth)
		got = append(got, str(m, "error"))
	}
	if strings.Join(got, ",") != ",channel_not_found,channel_not_found" {
		t.Errorf("slack answers %q", got)
	}
	f.ClearFaults()
	if _, _, m := post(t, sl, jsonCT, `{"channel":"C1","text":"x"}`, auth); m["ok"] != true {
		t.Errorf("after ClearFaults: %v", m)
	}
	// Every platform's error format.
	f.Fail(WhatsApp, Fault{Status: 400, Code: "131047/7", Message: "Re-engagement message"})
	c := f.Creds()
	_, _, m := post(t, f.GraphBase()+"/"+c.PhoneNumberID+"/messages", jsonCT, `{}`, map[string]string{"Authorization": "Bearer x"})
	if str(m, "error.code") != "131047" || str(m, "error.error_subcode") != "7" || str(m, "error.message") != "Re-engagement message" {
		t.Errorf("graph fault body %v", m)
	}
	f.Fail(Twilio, Fault{Status: 429})
	if status, _, m := post(t, f.TwilioBase()+"/2010-04-01/Accounts/x/Messages.json", jsonCT, ``, nil); status != 429 || str(m, "code") != "20429" || str(m, "status") != "429" {
		t.Errorf("twilio fault %d %v", status, m)
	}
	f.Fail(Resend, Fault{Status: 503})
	if status, _, m := post(t, f.ResendBase()+"/emails", jsonCT, ``, nil); status != 503 || str(m, "statusCode") != "503" || str(m, "name") != "internal_server_error" {
		t.Errorf("resend fault %d %v", status, m)
	}
}

func TestHangAndDisconnect(t *testing.T) {
	t.Parallel()
	f := New(t)
	u := f.TelegramBase() + "/bot" + f.Creds().BotToken + "/sendMessage"
	f.Fail(Telegram, Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(`{"chat_id":1,"text":"hi"}`))
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v, want the client's deadline", err)
	}
	f.Fail(Telegram, Fault{Disconnect: true})
	resp, err := http.Post(u, jsonCT, strings.NewReader(`{"chat_id":1,"text":"hi"}`))
	if err == nil {
		resp.Body.Close()
		t.Error("disconnect: got an answer")
	}
	// Both were recorded; the server still answers.
	if status, _, _ := post(t, u, jsonCT, `{"chat_id":1,"text":"hi"}`, nil); status != 200 {
		t.Errorf("after faults: %d", status)
	}
	if n := len(f.Requests(Telegram)); n < 3 {
		t.Errorf("%d requests recorded", n)
	}
}

func TestResendIdempotency(t *testing.T) {
	t.Parallel()
	f := New(t)
	h := map[string]string{"Authorization": "Bearer " + f.Creds().ResendAPIKey, "Idempotency-Key": "k1"}
	body := `{"from":"a@b.test","to":["c@d.test"],"subject":"s","text":"hi"}`
	_, _, first := post(t, f.ResendBase()+"/emails", jsonCT, body, h)
	_, _, again := post(t, f.ResendBase()+"/emails", jsonCT, body, h)
	if str(first, "id") == "" || str(first, "id") != str(again, "id") {
		t.Errorf("ids %v %v", first, again)
	}
	status, _, m := post(t, f.ResendBase()+"/emails", jsonCT, strings.Replace(body, "hi", "other", 1), h)
	if status != 409 || str(m, "name") != "invalid_idempotent_request" {
		t.Errorf("other body: %d %v", status, m)
	}
	if n := len(f.Sent(Resend)); n != 1 {
		t.Errorf("Sent = %d, want 1", n)
	}
}

func TestTelegramWebhookLifecycle(t *testing.T) {
	t.Parallel()
	f := New(t)
	tok := f.Creds().BotToken
	base := f.TelegramBase() + "/bot" + tok
	if status, _, m := post(t, base+"/setWebhook", jsonCT, `{"url":"https://h.test/w","secret_token":"bad secret"}`, nil); status != 400 {
		t.Errorf("bad secret: %d %v", status, m)
	}
	if status, _, _ := post(t, base+"/setWebhook", jsonCT, `{"url":"not a url"}`, nil); status != 400 {
		t.Errorf("bad url: %d", status)
	}
	if status, _, _ := post(t, base+"/setWebhook", jsonCT, `{"url":"https://h.test/w","secret_token":"s-1","allowed_updates":["message"]}`, nil); status != 200 {
		t.Fatalf("setWebhook: %d", status)
	}
	wh, ok := f.TelegramWebhook(tok)
	if !ok || wh.URL != "https://h.test/w" || wh.SecretToken != "s-1" || len(wh.AllowedUpdates) != 1 {
		t.Errorf("webhook %+v %v", wh, ok)
	}
	if _, _, m := post(t, base+"/getWebhookInfo", jsonCT, `{}`, nil); str(m, "result.url") != "https://h.test/w" {
		t.Errorf("getWebhookInfo %v", m)
	}
	if _, _, m := post(t, base+"/deleteWebhook", jsonCT, `{}`, nil); str(m, "description") != "Webhook was deleted" {
		t.Errorf("deleteWebhook %v", m)
	}
	if _, ok := f.TelegramWebhook(tok); ok {
		t.Error("still set")
	}
	if _, _, m := post(t, base+"/getMe", jsonCT, `{}`, nil); str(m, "result.id") != "123456789" {
		t.Errorf("getMe %v", m)
	}
}

func TestCredsAreConfigurable(t *testing.T) {
	t.Parallel()
	f := New(t)
	c := f.Creds()
	c.BotToken = "42:OtherToken_abcdefghijklmnopqrstuvw"
	f.SetCreds(c)
	if got := f.ChannelCreds("TELEGRAM")["botToken"]; got != c.BotToken {
		t.Errorf("ChannelCreds = %q", got)
	}
	if status, _, _ := post(t, f.TelegramBase()+"/bot"+DefaultCreds().BotToken+"/getMe", jsonCT, `{}`, nil); status != 401 {
		t.Errorf("old token: %d", status)
	}
	if status, _, _ := post(t, f.TelegramBase()+"/bot"+c.BotToken+"/getMe", jsonCT, `{}`, nil); status != 200 {
		t.Errorf("new token: %d", status)
	}
	for _, ct := range []string{"WHATSAPP", "MESSENGER", "TELEGRAM", "SLACK", "SMS", "VOICE"} {
		for k, v := range f.ChannelCreds(ct) {
			if v == "" {
				t.Errorf("%s %s is empty", ct, k)
			}
		}
	}
	if f.ChannelCreds("WEB") != nil {
		t.Error("WEB has credentials")
	}
}
