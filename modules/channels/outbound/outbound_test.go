package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

func newEnv(t *testing.T) (*fakeplatforms.Server, *Senders) {
	t.Helper()
	f := fakeplatforms.New(t)
	return f, New(Config{
		WhatsAppBase: f.GraphBase(), MessengerBase: f.GraphBase(), TelegramBase: f.TelegramBase(),
		SlackBase: f.SlackBase(), TwilioBase: f.TwilioBase(), ResendBase: f.ResendBase(),
		ResendAPIKey: f.Creds().ResendAPIKey, HTTP: &http.Client{Timeout: 5 * time.Second},
	})
}

// delivery is a one-part message to a plausible recipient of the channel type.
func delivery(f *fakeplatforms.Server, channelType, text string) Delivery {
	d := Delivery{Creds: f.ChannelCreds(channelType), Text: text}
	switch channelType {
	case WhatsApp:
		d.To = "15551234567"
	case Messenger:
		d.To = "6543210987654321"
	case Telegram:
		d.To = "987654321"
	case Slack:
		d.To = "C0123456789"
	case SMS:
		d.To = "+15557654321"
	case Email:
		d.Creds = map[string]string{"fromAddress": "support@acme.test"}
		d.To = "customer@example.com"
	}
	return d
}

func send(t *testing.T, s *Senders, channelType string, d Delivery) (int, error) {
	t.Helper()
	snd, ok := s.For(channelType)
	if !ok {
		t.Fatalf("no sender for %s", channelType)
	}
	return snd.Send(context.Background(), d)
}

func TestSendRequestShape(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	c := f.Creds()
	cases := []struct {
		channel, platform, path, auth string
		edit                          func(*Delivery)
		body                          map[string]any
	}{
		{
			WhatsApp, fakeplatforms.WhatsApp, "/v21.0/" + c.PhoneNumberID + "/messages", "Bearer " + c.WhatsAppToken, nil,
			map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551234567", "type": "text", "text": map[string]any{"body": "Hello there"}},
		},
		{
			Messenger, fakeplatforms.Messenger, "/v21.0/me/messages", "Bearer " + c.PageAccessToken, nil,
			map[string]any{"recipient": map[string]any{"id": "6543210987654321"}, "messaging_type": "RESPONSE", "message": map[string]any{"text": "Hello there"}},
		},
		{
			Telegram, fakeplatforms.Telegram, "/bot" + c.BotToken + "/sendMessage", "", nil,
			map[string]any{"chat_id": float64(987654321), "text": "Hello there"},
		},
		{
			Slack, fakeplatforms.Slack, "/api/chat.postMessage", "Bearer " + c.SlackBotToken,
			func(d *Delivery) { d.Thread = "1700000000.000100" },
			map[string]any{"channel": "C0123456789", "text": "Hello there", "thread_ts": "1700000000.000100"},
		},
		{
			SMS, fakeplatforms.Twilio, "/2010-04-01/Accounts/" + c.AccountSID + "/Messages.json", "",
			nil,
			map[string]any{"To": "+15557654321", "From": c.FromNumber, "Body": "Hello there"},
		},
		{
			Email, fakeplatforms.Resend, "/emails", "Bearer " + c.ResendAPIKey,
			func(d *Delivery) {
				d.Subject, d.Thread, d.IdempotencyKey = "Order\r\n 42 late", "abc@mail.example.com", "channels-message/m1"
			},
			map[string]any{
				"from": "support@acme.test", "to": []any{"customer@example.com"}, "subject": "Re: Order 42 late", "text": "Hello there",
				"headers": map[string]any{"In-Reply-To": "<abc@mail.example.com>", "References": "<abc@mail.example.com>"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.channel, func(t *testing.T) {
			d := delivery(f, tc.channel, "Hello there")
			if tc.edit != nil {
				tc.edit(&d)
			}
			n, err := send(t, s, tc.channel, d)
			if err != nil || n != 1 {
				t.Fatalf("Send = %d, %v", n, err)
			}
			sent := f.Sent(tc.platform)
			if len(sent) != 1 {
				t.Fatalf("sent %d requests, want 1: %+v", len(sent), f.Requests(tc.platform))
			}
			r := sent[0]
			if r.Method != http.MethodPost || r.Path != tc.path {
				t.Errorf("%s %s, want POST %s", r.Method, r.Path, tc.path)
			}
			if tc.auth != "" && r.Header.Get("Authorization") != tc.auth {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}
			if !reflect.DeepEqual(r.Body, tc.body) {
				t.Errorf("body = %v\nwant   %v", r.Body, tc.body)
			}
		})
	}
	t.Run("twilio basic auth and form", func(t *testing.T) {
		r := f.Sent(fakeplatforms.Twilio)[0]
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.Header = r.Header
		if u, p, ok := req.BasicAuth(); !ok || u != c.AccountSID || p != c.AuthToken {
			t.Errorf("basic auth = %q %q %v", u, p, ok)
		}
	})
	t.Run("resend idempotency header", func(t *testing.T) {
		r := f.Sent(fakeplatforms.Resend)[0]
		if got := r.Header.Get("Idempotency-Key"); got != "channels-message/m1" {
			t.Errorf("Idempotency-Key = %q", got)
		}
	})
}

func TestSlackTextIsEscaped(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	if _, err := send(t, s, Slack, delivery(f, Slack, "Hey <!channel> see <https://evil.test|your bank> & more")); err != nil {
		t.Fatal(err)
	}
	want := "Hey &lt;!channel&gt; see &lt;https://evil.test|your bank&gt; &amp; more"
	if got := f.Texts(fakeplatforms.Slack); len(got) != 1 || got[0] != want {
		t.Errorf("slack text = %q, want %q", got, want)
	}
}

func TestTelegramLongTextIsSplitInOrder(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	var b strings.Builder
	for i := 0; b.Len() < 10000; i++ {
		fmt.Fprintf(&b, "Sentence %d of a long answer. ", i)
	}
	text := strings.TrimSpace(b.String())[:10000]
	n, err := send(t, s, Telegram, delivery(f, Telegram, text))
	if err != nil || n != 3 {
		t.Fatalf("Send = %d, %v; want 3 parts", n, err)
	}
	got := f.Texts(fakeplatforms.Telegram)
	if len(got) != 3 {
		t.Fatalf("fake got %d messages", len(got))
	}
	if !reflect.DeepEqual(got, Split(Telegram, text)) {
		t.Error("delivered parts differ from Split's, or are out of order")
	}
	if strings.Join(strings.Fields(strings.Join(got, " ")), " ") != strings.Join(strings.Fields(text), " ") {
		t.Error("parts do not rebuild the text")
	}
	for i, p := range got[:2] {
		if !strings.HasSuffix(p, ".") {
			t.Errorf("part %d does not end at a sentence: …%q", i, p[len(p)-20:])
		}
	}
}

func TestSplitPerPlatform(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	long := strings.Repeat("word ", 9000) // 45,000 characters
	for _, tc := range []struct {
		channel, platform string
		parts             int
	}{
		{WhatsApp, fakeplatforms.WhatsApp, 11},
		{Messenger, fakeplatforms.Messenger, 23},
		{Slack, fakeplatforms.Slack, 2},
		{Email, fakeplatforms.Resend, 1},
	} {
		n, err := send(t, s, tc.channel, delivery(f, tc.channel, long))
		if err != nil || n != tc.parts {
			t.Errorf("%s: Send = %d, %v; want %d parts", tc.channel, n, err, tc.parts)
		}
		if got := len(f.Sent(tc.platform)); got != tc.parts {
			t.Errorf("%s: fake accepted %d", tc.channel, got)
		}
	}
	// SMS: 2,000 GSM characters → 2 messages of at most 10 segments each.
	sms := strings.Repeat("abcd ", 400)
	n, err := send(t, s, SMS, delivery(f, SMS, sms))
	if err != nil || n != 2 {
		t.Fatalf("SMS: Send = %d, %v", n, err)
	}
	for _, p := range f.Texts(fakeplatforms.Twilio) {
		if seg, _ := SMSSegments(p); seg > SMSMaxSegments {
			t.Errorf("SMS part of %d segments", seg)
		}
	}
}

// errOf sends and returns the *Error.
func errOf(t *testing.T, s *Senders, channelType string, d Delivery) *Error {
	t.Helper()
	_, err := send(t, s, channelType, d)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name, channel, platform string
		fault                   fakeplatforms.Fault
		permanent               bool
		status                  int
		code                    string
		retryAfter              time.Duration // exact, or >0 and ≤ it when approx
		approx                  bool
	}{
		{"telegram 500", Telegram, fakeplatforms.Telegram, fakeplatforms.Fault{Status: 500}, false, 500, "500", 0, false},
		{"telegram 429 retry_after", Telegram, fakeplatforms.Telegram, fakeplatforms.Fault{Status: 429, RetryAfter: "7"}, false, 429, "429", 7 * time.Second, false},
		{"telegram 400 chat not found", Telegram, fakeplatforms.Telegram, fakeplatforms.Fault{Status: 400, Message: "Bad Request: chat not found"}, true, 400, "400", 0, false},
		{"telegram 403 blocked", Telegram, fakeplatforms.Telegram, fakeplatforms.Fault{Status: 403, Message: "Forbidden: bot was blocked by the user"}, true, 403, "403", 0, false},
		{"whatsapp outside 24h window", WhatsApp, fakeplatforms.WhatsApp, fakeplatforms.Fault{Status: 400, Code: "131047"}, true, 400, "131047", 0, false},
		{"whatsapp throughput limit in a 400", WhatsApp, fakeplatforms.WhatsApp, fakeplatforms.Fault{Status: 400, Code: "130429"}, false, 400, "130429", 0, false},
		{"whatsapp 503", WhatsApp, fakeplatforms.WhatsApp, fakeplatforms.Fault{Status: 503}, false, 503, "2", 0, false},
		{"messenger 429 http-date", Messenger, fakeplatforms.Messenger, fakeplatforms.Fault{Status: 429, RetryAfter: httpDate}, false, 429, "4", 90 * time.Second, true},
		{"messenger 400 subcode", Messenger, fakeplatforms.Messenger, fakeplatforms.Fault{Status: 400, Code: "10/2018278"}, true, 400, "10/2018278", 0, false},
		{"slack channel_not_found", Slack, fakeplatforms.Slack, fakeplatforms.Fault{Status: 200, Code: "channel_not_found"}, true, 200, "channel_not_found", 0, false},
		{"slack not_in_channel", Slack, fakeplatforms.Slack, fakeplatforms.Fault{Status: 200, Code: "not_in_channel"}, true, 200, "not_in_channel", 0, false},
		{"slack ok:false ratelimited", Slack, fakeplatforms.Slack, fakeplatforms.Fault{Status: 200, Code: "ratelimited"}, false, 200, "ratelimited", 0, false},
		{"slack internal_error", Slack, fakeplatforms.Slack, fakeplatforms.Fault{Status: 200, Code: "internal_error"}, false, 200, "internal_error", 0, false},
		{"slack 429 Retry-After", Slack, fakeplatforms.Slack, fakeplatforms.Fault{Status: 429, RetryAfter: "30"}, false, 429, "ratelimited", 30 * time.Second, false},
		{"twilio invalid To", SMS, fakeplatforms.Twilio, fakeplatforms.Fault{Status: 400, Code: "21211"}, true, 400, "21211", 0, false},
		{"twilio 429", SMS, fakeplatforms.Twilio, fakeplatforms.Fault{Status: 429, RetryAfter: "2"}, false, 429, "20429", 2 * time.Second, false},
		{"twilio 500", SMS, fakeplatforms.Twilio, fakeplatforms.Fault{Status: 500}, false, 500, "20500", 0, false},
		{"resend 422", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 422, Code: "validation_error"}, true, 422, "validation_error", 0, false},
		{"resend 409 concurrent", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 409}, false, 409, "concurrent_idempotent_requests", 0, false},
		{"resend 409 other payload", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 409, Code: "invalid_idempotent_request"}, true, 409, "invalid_idempotent_request", 0, false},
		{"resend 500", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 500}, false, 500, "internal_server_error", 0, false},
		{"resend 400 permanent (not 408/409/425/429)", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 400}, true, 400, "validation_error", 0, false},
		{"resend 408 retryable", Email, fakeplatforms.Resend, fakeplatforms.Fault{Status: 408}, false, 408, "internal_server_error", 0, false},
		{"telegram dropped connection", Telegram, fakeplatforms.Telegram, fakeplatforms.Fault{Disconnect: true}, false, 0, "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, s := newEnv(t)
			f.Fail(tc.platform, tc.fault)
			e := errOf(t, s, tc.channel, delivery(f, tc.channel, "Hello"))
			if e.Permanent != tc.permanent || e.Status != tc.status || e.Code != tc.code {
				t.Errorf("got permanent=%v status=%d code=%q, want %v %d %q (%v)", e.Permanent, e.Status, e.Code, tc.permanent, tc.status, tc.code, e)
			}
			if IsPermanent(e) != tc.permanent {
				t.Error("IsPermanent disagrees")
			}
			if tc.approx {
				if e.RetryAfter <= 0 || e.RetryAfter > tc.retryAfter {
					t.Errorf("RetryAfter = %v, want in (0, %v]", e.RetryAfter, tc.retryAfter)
				}
			} else if e.RetryAfter != tc.retryAfter || RetryAfter(e) != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.retryAfter)
			}
		})
	}
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	for _, tc := range []struct {
		channel, key string
		status       int
		code         string
	}{
		{WhatsApp, "accessToken", 401, "190"},
		{Messenger, "pageAccessToken", 401, "190"},
		{Telegram, "botToken", 401, "401"},
		{Slack, "botToken", 200, "invalid_auth"},
		{SMS, "authToken", 401, "20003"},
	} {
		d := delivery(f, tc.channel, "Hello")
		d.Creds[tc.key] = "wrong-" + d.Creds[tc.key]
		e := errOf(t, s, tc.channel, d)
		if !e.Permanent || e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %v; want permanent %d %s", tc.channel, e, tc.status, tc.code)
		}
	}
	wrongKey := New(Config{ResendBase: f.ResendBase(), ResendAPIKey: "re_wrong_key"})
	if e := errOf(t, wrongKey, Email, delivery(f, Email, "Hello")); !e.Permanent || e.Status != 403 || e.Code != "invalid_api_key" {
		t.Errorf("resend: %v", e)
	}
}

func TestLocalRefusals(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	for _, ch := range []string{WhatsApp, Messenger, Telegram, Slack, SMS, Email} {
		d := delivery(f, ch, "Hello")
		d.Creds = map[string]string{}
		if e := errOf(t, s, ch, d); !e.Permanent || e.Code != "missing_credentials" {
			t.Errorf("%s without credentials: %v", ch, e)
		}
		d = delivery(f, ch, " \n ")
		if e := errOf(t, s, ch, d); !e.Permanent || e.Code != "empty_text" {
			t.Errorf("%s with empty text: %v", ch, e)
		}
		d = delivery(f, ch, "Hello")
		d.To = ""
		if e := errOf(t, s, ch, d); !e.Permanent || e.Code != "no_recipient" {
			t.Errorf("%s without recipient: %v", ch, e)
		}
	}
	if n := len(f.Requests("")); n != 0 {
		t.Errorf("%d requests reached the platforms", n)
	}
	if _, ok := New(Config{}).For(Email); ok {
		t.Error("an EMAIL sender without RESEND_API_KEY")
	}
	for _, ch := range []string{"WEB", "VOICE", "NOPE"} {
		if _, ok := s.For(ch); ok {
			t.Errorf("a sender for %s", ch)
		}
	}
}

func TestRetryThenSucceed(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	f.Fail(fakeplatforms.Telegram, fakeplatforms.Fault{Status: 502, Times: 2})
	d := delivery(f, Telegram, "Hello")
	for i := range 2 {
		if _, err := send(t, s, Telegram, d); err == nil || IsPermanent(err) {
			t.Fatalf("attempt %d: %v, want a retryable error", i+1, err)
		}
	}
	if n, err := send(t, s, Telegram, d); err != nil || n != 1 {
		t.Fatalf("attempt 3: %d, %v", n, err)
	}
	if got := len(f.Sent(fakeplatforms.Telegram)); got != 1 {
		t.Errorf("delivered %d times", got)
	}
}

func TestSplitSendResumes(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	text := strings.Repeat("Paragraph of a long reply with several words in it.\n\n", 200) // ~10.6k
	parts := Split(Telegram, text)
	if len(parts) != 3 {
		t.Fatalf("Split gave %d parts", len(parts))
	}
	// Part 2 fails: the first attempt reports 1 delivered part.
	f.Fail(fakeplatforms.Telegram, fakeplatforms.Fault{Op: "sendMessage", Skip: 1, Status: 500})
	d := delivery(f, Telegram, text)
	n, err := send(t, s, Telegram, d)
	if err == nil || IsPermanent(err) || n != 1 {
		t.Fatalf("attempt 1 = %d, %v; want 1 and a retryable error", n, err)
	}
	d.SkipParts = n
	if n, err = send(t, s, Telegram, d); err != nil || n != 3 {
		t.Fatalf("attempt 2 = %d, %v", n, err)
	}
	if got := f.Texts(fakeplatforms.Telegram); !reflect.DeepEqual(got, parts) {
		t.Errorf("delivered %d parts; want each of the 3 once, in order", len(got))
	}
	// Everything already delivered: nothing is sent.
	d.SkipParts = 3
	if n, err = send(t, s, Telegram, d); err != nil || n != 3 {
		t.Fatalf("attempt 3 = %d, %v", n, err)
	}
	if got := len(f.Sent(fakeplatforms.Telegram)); got != 3 {
		t.Errorf("%d sends after a fully delivered retry", got)
	}
}

func TestResendIdempotencyKeyPreventsADuplicate(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	d := delivery(f, Email, "Your refund is on its way.")
	d.IdempotencyKey = "channels-message/0192"
	for range 2 {
		if n, err := send(t, s, Email, d); err != nil || n != 1 {
			t.Fatalf("Send = %d, %v", n, err)
		}
	}
	reqs := f.Requests(fakeplatforms.Resend)
	if len(reqs) != 2 || !reqs[1].Replayed || len(f.Sent(fakeplatforms.Resend)) != 1 {
		t.Errorf("requests %d, replayed %v, sent %d; want 2, true, 1", len(reqs), len(reqs) == 2 && reqs[1].Replayed, len(f.Sent(fakeplatforms.Resend)))
	}
	for _, r := range reqs {
		if r.Header.Get("Idempotency-Key") != d.IdempotencyKey {
			t.Errorf("Idempotency-Key = %q", r.Header.Get("Idempotency-Key"))
		}
	}
	if got := f.Sent(fakeplatforms.Resend)[0].Body["subject"]; got != fallbackSubject {
		t.Errorf("subject = %v", got)
	}
}

func TestErrorsHoldNoSecret(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	c := f.Creds()
	text := "My card number is 4111 1111 1111 1111, please help"
	// Each sender scrubs its own channel's credentials (and the Resend key) and the text.
	secrets := []string{c.WhatsAppToken, c.PageAccessToken, c.BotToken, c.SlackBotToken, c.AuthToken, c.ResendAPIKey, text}
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, form := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%v", errors.Unwrap(err))} {
			for _, sec := range secrets {
				if strings.Contains(form, sec) {
					t.Errorf("%s: error shows a secret (%.12s…): %s", name, sec, form)
				}
			}
		}
	}
	channels := map[string]string{
		WhatsApp: fakeplatforms.WhatsApp, Messenger: fakeplatforms.Messenger, Telegram: fakeplatforms.Telegram,
		Slack: fakeplatforms.Slack, SMS: fakeplatforms.Twilio, Email: fakeplatforms.Resend,
	}
	for ch, pl := range channels {
		// A platform description that echoes the channel's credentials and the text.
		d := delivery(f, ch, text)
		echo := []string{text}
		if ch == Email {
			echo = append(echo, c.ResendAPIKey)
		}
		for _, v := range d.Creds {
			echo = append(echo, v)
		}
		f.Fail(pl, fakeplatforms.Fault{Status: 400, Code: "100", Message: "echo: " + strings.Join(echo, " | ")})
		_, err := send(t, s, ch, d)
		check(ch+" echoed description", err)
		if ch != Slack && !strings.Contains(err.Error(), "echo: [redacted]") { // Slack has no description
			t.Errorf("%s: description lost: %v", ch, err)
		}
		f.Fail(pl, fakeplatforms.Fault{Disconnect: true})
		_, err = send(t, s, ch, d)
		check(ch+" dropped connection", err)
	}
	// A timeout: Telegram's *url.Error would carry the token in its URL.
	f.Fail(fakeplatforms.Telegram, fakeplatforms.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	snd, _ := s.For(Telegram)
	_, err := snd.Send(ctx, delivery(f, Telegram, text))
	check("telegram timeout", err)
	if IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v; want retryable, wrapping context.DeadlineExceeded", err)
	}
	// A root that does not parse: url.Parse's error quotes the whole URL.
	bad := New(Config{TelegramBase: "http://bad host"})
	snd, _ = bad.For(Telegram)
	_, err = snd.Send(context.Background(), delivery(f, Telegram, text))
	check("telegram bad root", err)
	check("setWebhook", bad.TelegramSetWebhook(context.Background(), c.BotToken, "https://x.test/h", "s3cr3t", false))
}

func TestTelegramWebhook(t *testing.T) {
	t.Parallel()
	f, s := newEnv(t)
	ctx := context.Background()
	tok := f.Creds().BotToken
	if err := s.TelegramSetWebhook(ctx, tok, "https://api.axon.test/v1/webhooks/abc/telegram", "sec_RET-123", true); err != nil {
		t.Fatal(err)
	}
	wh, ok := f.TelegramWebhook(tok)
	want := fakeplatforms.Webhook{URL: "https://api.axon.test/v1/webhooks/abc/telegram", SecretToken: "sec_RET-123", AllowedUpdates: []string{"message"}, DropPendingUpdates: true}
	if !ok || !reflect.DeepEqual(wh, want) {
		t.Errorf("webhook = %+v, %v", wh, ok)
	}
	if err := s.TelegramDeleteWebhook(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.TelegramWebhook(tok); ok {
		t.Error("webhook still set")
	}
	if err := s.TelegramSetWebhook(ctx, tok, "https://x.test/h", "bad secret!", false); !IsPermanent(err) {
		t.Errorf("bad secret: %v", err)
	}
	if err := s.TelegramSetWebhook(ctx, "1:wrong", "https://x.test/h", "ok", false); !IsPermanent(err) {
		t.Errorf("wrong token: %v", err)
	}
	f.Fail(fakeplatforms.Telegram, fakeplatforms.Fault{Op: "setWebhook", Status: 429, RetryAfter: "3"})
	if err := s.TelegramSetWebhook(ctx, tok, "https://x.test/h", "ok", false); IsPermanent(err) || RetryAfter(err) != 3*time.Second {
		t.Errorf("429: %v", err)
	}
	if n := len(f.Requests(fakeplatforms.Telegram)); n != 4 { // the bad secret never left
		t.Errorf("%d requests, want 4", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"12", 12 * time.Second},
		{" 3 ", 3 * time.Second},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
		{"999999999", 7 * 24 * time.Hour},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReplySubjectAndMessageID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": fallbackSubject, "Refund": "Re: Refund", "RE: Refund": "RE: Refund", "a\r\nBcc: x@y": "Re: a Bcc: x@y"} {
		if got := replySubject(in); got != want {
			t.Errorf("replySubject(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"": "", "<a@b>": "<a@b>", "a@b": "<a@b>", "a@b\r\nX: y": "<a@bX:y>"} {
		if got := messageID(in); got != want {
			t.Errorf("messageID(%q) = %q", in, got)
		}
	}
}

// BenchmarkSendTelegram measures one Telegram send through the sender against the fake
// (outbound-fake), the same sender against a bare httptest server that only answers
// {"ok":true} (outbound-bare: the client's own cost), and, as the same-run baseline, a bare
// net/http JSON POST to that server (bare). The ratios are logged.
func BenchmarkSendTelegram(b *testing.B) {
	f := fakeplatforms.New(b)
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"result":{"message_id":1}}`))
	}))
	b.Cleanup(bare.Close)
	d := Delivery{Creds: f.ChannelCreds(Telegram), To: "987654321", Text: "Hello, how can I help you today?"}
	body := `{"chat_id":987654321,"text":"Hello, how can I help you today?"}`
	perOp := map[string]float64{}
	sendVia := func(base string) func(b *testing.B) {
		return func(b *testing.B) {
			snd, _ := New(Config{TelegramBase: base}).For(Telegram)
			for b.Loop() {
				if _, err := snd.Send(context.Background(), d); err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			perOp[b.Name()] = ns
			b.ReportMetric(1e9/ns, "sends/s")
		}
	}
	b.Run("outbound-fake", sendVia(f.TelegramBase()))
	b.Run("outbound-bare", sendVia(bare.URL))
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{}
		for b.Loop() {
			resp, err := hc.Post(bare.URL+"/bot1:x/sendMessage", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		perOp[b.Name()] = ns
		b.ReportMetric(1e9/ns, "posts/s")
	})
	base := perOp[b.Name()+"/bare"]
	if base > 0 {
		b.Logf("time per message vs a bare POST: outbound-fake %.2fx, outbound-bare %.2fx",
			perOp[b.Name()+"/outbound-fake"]/base, perOp[b.Name()+"/outbound-bare"]/base)
	}
}
