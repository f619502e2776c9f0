package inbound

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check what every parser and verifier promises on any input: no panic,
// bounded output, only ErrMalformed/ErrSignature errors, clean strings, and (verifiers)
// that a correct signature verifies while a changed body or timestamp does not. Their
// seed corpora (f.Add and testdata/fuzz/<FuzzName>/) run with the ordinary tests.

func addFixtures(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(fixture(f, n))
	}
}

// fuzzParse runs parse twice (it must be deterministic) and checks its output.
func fuzzParse(t *testing.T, parse func() ([]Message, error)) {
	got, err := parse()
	checkMessages(t, got, err)
	again, err2 := parse()
	if !reflect.DeepEqual(got, again) || (err == nil) != (err2 == nil) {
		t.Fatalf("not deterministic: %v %v / %v %v", got, err, again, err2)
	}
}

func FuzzParseWhatsApp(f *testing.F) {
	addFixtures(f, "whatsapp_text.json", "whatsapp_statuses.json", "whatsapp_interactive.json")
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"x","type":"text","text":{"body":"a\u0000\r\n"}}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, func() ([]Message, error) { return ParseWhatsApp(body) })
	})
}

func FuzzParseMessenger(f *testing.F) {
	addFixtures(f, "messenger_text.json", "messenger_other.json", "messenger_postback.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, func() ([]Message, error) { return ParseMessenger(body) })
	})
}

func FuzzParseTelegram(f *testing.F) {
	addFixtures(f, "telegram_text.json", "telegram_edited.json", "telegram_channel_post.json",
		"telegram_callback.json", "telegram_photo.json", "telegram_group.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, func() ([]Message, error) { return ParseTelegram(body) })
	})
}

func FuzzParseSlack(f *testing.F) {
	addFixtures(f, "slack_url_verification.json", "slack_message.json", "slack_app_mention.json",
		"slack_bot_message.json", "slack_bot_id.json", "slack_message_changed.json", "slack_reaction.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		challenge, msgs, err := ParseSlack(body)
		checkMessages(t, msgs, err)
		if challenge != "" && (!safeChallenge(challenge) || len(msgs) != 0 || err != nil) {
			t.Fatalf("challenge %q with %v, %v", challenge, msgs, err)
		}
	})
}

func FuzzParseSMS(f *testing.F) {
	for _, n := range []string{"sms_inbound.form", "sms_status.form"} {
		f.Add(string(fixture(f, n)))
	}
	f.Add("MessageSid=SM1&From=%2B1&Body=caf%E9%00%0D%0A")
	f.Fuzz(func(t *testing.T, query string) {
		form, _ := url.ParseQuery(query) // what ParseForm keeps of a bad body
		fuzzParse(t, func() ([]Message, error) { return ParseSMS(form) })
	})
}

func FuzzParseVoice(f *testing.F) {
	for _, n := range []string{"voice_turn.form", "voice_start.form"} {
		f.Add(string(fixture(f, n)))
	}
	f.Fuzz(func(t *testing.T, query string) {
		form, _ := url.ParseQuery(query)
		turn, err := ParseVoice(form)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || turn != (VoiceTurn{}) {
				t.Fatalf("ParseVoice = %+v, %v", turn, err)
			}
			return
		}
		if turn.CallSID == "" || utf8.RuneCountInString(turn.Speech) > MaxTextRunes {
			t.Fatalf("ParseVoice = %+v", turn)
		}
		checkString(t, "speech", turn.Speech, false)
		for _, s := range []string{turn.CallSID, turn.From, turn.To} {
			checkString(t, "call field", s, true)
			if len(s) > MaxFieldBytes+7 {
				t.Fatalf("call field of %d bytes", len(s))
			}
		}
	})
}

func FuzzParseEmail(f *testing.F) {
	f.Add("application/json", fixture(f, "email_postmark.json"))
	f.Add("application/json", fixture(f, "email_resend.json"))
	f.Add("application/json", fixture(f, "email_html_only.json"))
	f.Add("multipart/form-data; boundary=xYzZY", fixture(f, "email_sendgrid.multipart"))
	f.Add("application/x-www-form-urlencoded", fixture(f, "email_mailgun.form"))
	f.Add("", []byte(`{"from":"a@b.co","text":"> q\nOn x wrote:\n-- \n"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		fuzzParse(t, func() ([]Message, error) { return ParseEmail(contentType, body) })
	})
}

func FuzzHTMLToText(f *testing.F) {
	f.Add(`<p>Hello <b>world</b></p><blockquote>old</blockquote><script>x</script>&amp;`)
	f.Add(`<<<>>><!--<div>--></p>&#0;&#xFFFFFF;`)
	f.Fuzz(func(t *testing.T, s string) {
		const limit = 4096
		got := htmlToText(s, limit)
		// One token past the limit may be written; a token is at most the input.
		if len(got) > limit+len(s)+1 {
			t.Fatalf("%d bytes from %d", len(got), len(s))
		}
	})
}

func FuzzVerifyMeta(f *testing.F) {
	f.Add(fixture(f, "whatsapp_text.json"), "6f1c3bd2a7e94c0b8d5e2f7a9c1b3d4e", "")
	f.Add([]byte("The quick brown fox jumps over the lazy dog"), "key", "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
	f.Fuzz(func(t *testing.T, body []byte, secret, header string) {
		if err := VerifyMeta(body, header, secret); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("error %v", err)
		} else if err == nil && !strings.EqualFold(header, metaSig(body, secret)) {
			t.Fatalf("header %q verified for another signature", header)
		}
		good := metaSig(body, secret)
		if err := VerifyMeta(body, good, secret); (err == nil) != (secret != "") {
			t.Fatalf("own signature: %v (secret %q)", err, secret)
		}
		if err := VerifyMeta(append(bytes.Clone(body), 'x'), good, secret); err == nil {
			t.Fatal("a changed body verified")
		}
	})
}

func FuzzVerifySlack(f *testing.F) {
	f.Add(fixture(f, "slack_message.json"), int64(1_760_000_000), "e5a1c0ffee0b4d6a9c3b7f21d8e4a6b2", "v0=00")
	f.Add([]byte(""), int64(-1), "", "")
	f.Fuzz(func(t *testing.T, body []byte, ts int64, secret, sig string) {
		now := time.Unix(ts, 0)
		tss := strconv.FormatInt(ts, 10)
		if err := VerifySlack(body, tss, sig, secret, now); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("error %v", err)
		} else if err == nil && !strings.EqualFold(sig, slackSig(body, tss, secret)) {
			t.Fatalf("signature %q verified for another signature", sig)
		}
		good := slackSig(body, tss, secret)
		if err := VerifySlack(body, tss, good, secret, now); (err == nil) != (secret != "") {
			t.Fatalf("own signature: %v (secret %q)", err, secret)
		}
		if err := VerifySlack(body, tss, good, secret, now.Add(SlackMaxSkew+time.Second)); err == nil {
			t.Fatal("a stale timestamp verified")
		}
		if err := VerifySlack(append(bytes.Clone(body), 'x'), tss, good, secret, now); err == nil {
			t.Fatal("a changed body verified")
		}
	})
}

func FuzzVerifyTwilio(f *testing.F) {
	f.Add("https://mycompany.com/myapp.php?foo=1&bar=2", "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212", "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	f.Add("https://api.axon.test:8443/v1/webhooks/x/sms", string(fixture(f, "sms_inbound.form")), "tok", "")
	f.Add("http://[::1]/a", "A=1&A=2&B=", "t", "AAAA")
	f.Fuzz(func(t *testing.T, fullURL, query, token, sig string) {
		form, _ := url.ParseQuery(query)
		if err := VerifyTwilio(fullURL, form, sig, token); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("error %v", err)
		}
		good := twilioSig(fullURL, form, token)
		if err := VerifyTwilio(fullURL, form, good, token); (err == nil) != (token != "") {
			t.Fatalf("own signature: %v (token %q)", err, token)
		}
		changed := url.Values{}
		for k, v := range form {
			changed[k] = v
		}
		changed.Add("\x00fuzz", "1") // a parameter Twilio did not sign
		if err := VerifyTwilio(fullURL, changed, good, token); err == nil {
			t.Fatal("a changed form verified")
		}
	})
}

func FuzzTwiML(f *testing.F) {
	f.Add("Hello & welcome <caller>", "https://api.axon.test/v1/webhooks/x/voice/turn?a=1&b=2")
	f.Add("\x00\xff]]>\"'", "\ufffe")
	f.Fuzz(func(t *testing.T, say, action string) {
		for _, b := range [][]byte{TwiMLGather(say, action), TwiMLHangup(say), TwiMLEmpty()} {
			d := xml.NewDecoder(bytes.NewReader(b))
			depth, roots := 0, 0
			for {
				tok, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("invalid XML %q: %v", b, err)
				}
				switch tok.(type) {
				case xml.StartElement:
					if depth == 0 {
						roots++
					}
					depth++
				case xml.EndElement:
					depth--
				}
			}
			if roots != 1 || depth != 0 {
				t.Fatalf("%d roots in %q", roots, b)
			}
		}
	})
}
