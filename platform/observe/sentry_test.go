package observe

import (
	"strings"
	"testing"

	"github.com/getsentry/sentry-go"
)

// Events sent to Sentry keep no secret of the request: query values (an EventSource
// access_token, the e-mail webhook's key), secret headers, cookies and the body.
func TestScrubRemovesRequestSecrets(t *testing.T) {
	ev := &sentry.Event{Request: &sentry.Request{
		URL:         "https://api.test/v1/webhooks/abc/email?key=inbound-key-123",
		QueryString: "key=inbound-key-123&access_token=eyJhbGciOi.tok",
		Headers:     map[string]string{"Authorization": "Bearer eyJ.sec", "X-Telegram-Bot-Api-Secret-Token": "tg-secret", "Content-Type": "application/json"},
		Cookies:     "refresh_token=raw-refresh",
		Data:        `{"password":"hunter2"}`,
	}}
	Scrub(ev)
	all := ev.Request.URL + ev.Request.QueryString + ev.Request.Cookies + ev.Request.Data
	for _, v := range ev.Request.Headers {
		all += v
	}
	for _, secret := range []string{"inbound-key-123", "eyJhbGciOi.tok", "eyJ.sec", "tg-secret", "raw-refresh", "hunter2"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q survived the scrub: %+v", secret, ev.Request)
		}
	}
	if ev.Request.Headers["Content-Type"] != "application/json" || !strings.Contains(ev.Request.QueryString, "key=") {
		t.Errorf("scrub removed what is not secret: %+v", ev.Request)
	}
	if Scrub(&sentry.Event{}) == nil || Scrub(nil) != nil {
		t.Error("Scrub of an event without a request")
	}
}
