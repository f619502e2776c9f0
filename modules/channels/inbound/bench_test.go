package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks of what a webhook request costs in this package (verify, then parse), with
// two same-run baselines to read them against: the bare HMAC-SHA256 of the WhatsApp body
// and a generic json.Unmarshal of it into a map.

func BenchmarkBaselineHMACSHA256(b *testing.B) {
	body := fixture(b, "whatsapp_text.json")
	b.ReportAllocs()
	for b.Loop() {
		mac := hmac.New(sha256.New, []byte("secret"))
		mac.Write(body)
		_ = mac.Sum(nil)
	}
}

func BenchmarkBaselineJSONMap(b *testing.B) {
	body := fixture(b, "whatsapp_text.json")
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMeta(b *testing.B, name string, parse func([]byte) ([]Message, error)) {
	body := fixture(b, name)
	const secret = "6f1c3bd2a7e94c0b8d5e2f7a9c1b3d4e"
	sig := metaSig(body, secret)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyMeta(body, sig, secret); err != nil {
			b.Fatal(err)
		}
		if msgs, err := parse(body); err != nil || len(msgs) == 0 {
			b.Fatal(msgs, err)
		}
	}
}

func BenchmarkVerifyAndParseWhatsApp(b *testing.B) {
	benchMeta(b, "whatsapp_text.json", ParseWhatsApp)
}

func BenchmarkVerifyAndParseMessenger(b *testing.B) {
	benchMeta(b, "messenger_text.json", ParseMessenger)
}

func BenchmarkVerifyAndParseTelegram(b *testing.B) {
	body := fixture(b, "telegram_text.json")
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyTelegram("Zx9-secret_token", "Zx9-secret_token"); err != nil {
			b.Fatal(err)
		}
		if msgs, err := ParseTelegram(body); err != nil || len(msgs) != 1 {
			b.Fatal(msgs, err)
		}
	}
}

func BenchmarkVerifyAndParseSlack(b *testing.B) {
	body := fixture(b, "slack_message.json")
	const secret = "e5a1c0ffee0b4d6a9c3b7f21d8e4a6b2"
	now := time.Unix(1_760_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := slackSig(body, ts, secret)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifySlack(body, ts, sig, secret, now); err != nil {
			b.Fatal(err)
		}
		if _, msgs, err := ParseSlack(body); err != nil || len(msgs) != 1 {
			b.Fatal(msgs, err)
		}
	}
}

func BenchmarkVerifyAndParseSMS(b *testing.B) {
	form := formFixture(b, "sms_inbound.form")
	const hook, token = "https://api.axon.test/v1/webhooks/3f9a0c1d2e4b5a6978/sms", "9d3b7c1f0a2e4d6b8c5a7e9f1b3d5c7a"
	sig := twilioSig(hook, form, token)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyTwilio(hook, form, sig, token); err != nil {
			b.Fatal(err)
		}
		if msgs, err := ParseSMS(form); err != nil || len(msgs) != 1 {
			b.Fatal(msgs, err)
		}
	}
}

func BenchmarkParseVoiceAndGather(b *testing.B) {
	form := formFixture(b, "voice_turn.form")
	b.ReportAllocs()
	for b.Loop() {
		turn, err := ParseVoice(form)
		if err != nil {
			b.Fatal(err)
		}
		_ = TwiMLGather("You said: "+turn.Speech+" Anything else?", "https://api.axon.test/v1/webhooks/x/voice/turn")
	}
}

func benchEmail(b *testing.B, contentType, name string) {
	body := fixture(b, name)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyKey("b1946ac92492d2347c6235b4d2611184", "b1946ac92492d2347c6235b4d2611184"); err != nil {
			b.Fatal(err)
		}
		if msgs, err := ParseEmail(contentType, body); err != nil || len(msgs) != 1 {
			b.Fatal(msgs, err)
		}
	}
}

func BenchmarkVerifyAndParseEmailJSON(b *testing.B) {
	benchEmail(b, "application/json", "email_postmark.json")
}

func BenchmarkVerifyAndParseEmailHTML(b *testing.B) {
	benchEmail(b, "application/json", "email_html_only.json")
}

func BenchmarkVerifyAndParseEmailMultipart(b *testing.B) {
	benchEmail(b, "multipart/form-data; boundary=xYzZY", "email_sendgrid.multipart")
}

func BenchmarkVerifyAndParseEmailForm(b *testing.B) {
	benchEmail(b, "application/x-www-form-urlencoded", "email_mailgun.form")
}

// Worst cases near the HTTP layer's 1 MB body limit: the work stays linear and bounded.

func BenchmarkHostileWhatsApp1MB(b *testing.B) {
	msg := `{"from":"16505551234","id":"wamid.X","type":"text","text":{"body":"` + strings.Repeat("\\u0000a", 20) + `"}},`
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[` +
		strings.Repeat(msg, (1<<20)/len(msg)) + `{}]}}]}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		// The first MaxMessages are kept and the rest is not looked at.
		if msgs, err := ParseWhatsApp(body); err != nil || len(msgs) != MaxMessages {
			b.Fatal(len(msgs), err)
		}
	}
}

func BenchmarkHostileEmailHTML1MB(b *testing.B) {
	html := strings.Repeat("<div><b>x</b><blockquote>", (1<<20)/25)
	body := []byte(`{"from":"a@b.co","html":"` + html + `"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEmail("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHostileEmailQuotes1MB(b *testing.B) {
	text := strings.Repeat("> quoted line\nOn day\n", (1<<20)/21)
	body := []byte(`{"from":"a@b.co","text":"` + strings.ReplaceAll(text, "\n", `\n`) + `"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEmail("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}
