package inbound

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// fixture reads testdata/<name>: payloads in the platforms' wire formats.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// formFixture parses a URL-encoded fixture as the HTTP layer would (ParseForm).
func formFixture(tb testing.TB, name string) url.Values {
	tb.Helper()
	v, err := url.ParseQuery(strings.TrimSpace(string(fixture(tb, name))))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// metaSig is what Meta sends in X-Hub-Signature-256.
func metaSig(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// slackSig is what Slack sends in X-Slack-Signature.
func slackSig(body []byte, ts, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// twilioSig follows Twilio's description literally (written apart from the package's
// code): URL, then for each parameter name in sorted order the name and its value.
func twilioSig(fullURL string, form url.Values, token string) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		vals := append([]string(nil), form[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// checkMessages asserts what every parser promises about its output, whatever the input.
func checkMessages(tb testing.TB, msgs []Message, err error) {
	tb.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			tb.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if msgs != nil {
			tb.Fatalf("messages %v returned with error %v", msgs, err)
		}
		return
	}
	if msgs == nil {
		tb.Fatal("nil slice without error")
	}
	if len(msgs) > MaxMessages {
		tb.Fatalf("%d messages, more than %d", len(msgs), MaxMessages)
	}
	for _, m := range msgs {
		if m.ID == "" || m.From == "" || m.Text == "" {
			tb.Fatalf("message without id, from or text: %+v", m)
		}
		if n := utf8.RuneCountInString(m.Text); n > MaxTextRunes {
			tb.Fatalf("text has %d runes", n)
		}
		if m.Text != strings.TrimSpace(m.Text) {
			tb.Fatalf("text not trimmed: %q", m.Text)
		}
		checkString(tb, "text", m.Text, false)
		for name, v := range map[string]string{"id": m.ID, "from": m.From, "name": m.Name, "thread": m.Thread, "subject": m.Subject, "to": m.To} {
			checkString(tb, name, v, true)
		}
		for name, v := range map[string]string{"id": m.ID, "from": m.From, "thread": m.Thread, "to": m.To} {
			if len(v) > MaxFieldBytes+7 { // "sha256:" + 64 hex fits; addresses are at most MaxFieldBytes
				tb.Fatalf("%s is %d bytes", name, len(v))
			}
		}
		if utf8.RuneCountInString(m.Subject) > MaxSubjectRunes || utf8.RuneCountInString(m.Name) > MaxNameRunes {
			tb.Fatalf("subject or name too long: %+v", m)
		}
	}
}

// checkString asserts valid UTF-8, no NUL, and (for one-line fields) no control character.
func checkString(tb testing.TB, field, s string, line bool) {
	tb.Helper()
	if !utf8.ValidString(s) {
		tb.Fatalf("%s is not valid UTF-8: %q", field, s)
	}
	for _, r := range s {
		switch {
		case r == 0:
			tb.Fatalf("%s holds NUL: %q", field, s)
		case line && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'):
			tb.Fatalf("one-line %s holds control %U: %q", field, r, s)
		case !line && r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)):
			tb.Fatalf("%s holds control %U: %q", field, r, s)
		}
	}
}
