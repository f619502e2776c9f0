package fakeplatforms

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// How the platforms sign the webhooks they send, written from their documentation, for
// tests that play the platform's side of a webhook.

// SignMeta is the X-Hub-Signature-256 header the Graph API (WhatsApp, Messenger) sends:
// "sha256=" and the hex HMAC-SHA256 of the raw body with the app secret.
func SignMeta(body []byte, appSecret string) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignSlack is the X-Slack-Signature header Slack sends with X-Slack-Request-Timestamp ts:
// "v0=" and the hex HMAC-SHA256 of "v0:<ts>:<body>" with the signing secret.
func SignSlack(body []byte, ts, signingSecret string) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignTwilio is the X-Twilio-Signature header Twilio sends for a POST to fullURL with form
// parameters: the base64 HMAC-SHA1, keyed by the auth token, of the URL followed by every
// parameter name and value, names in sorted order.
func SignTwilio(fullURL string, form url.Values, authToken string) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), form[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
