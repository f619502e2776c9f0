package inbound

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
)

func TestVerifyTwilio(t *testing.T) {
	t.Parallel()
	// Twilio's documented example (docs "Webhooks security", helper library
	// RequestValidator docs): auth token 12345, this URL and these Gather parameters.
	docForm := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	const docURL, docToken, docSig = "https://mycompany.com/myapp.php?foo=1&bar=2", "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8="

	form := formFixture(t, "sms_inbound.form")
	const hook = "https://api.axon.test/v1/webhooks/3f9a0c1d2e4b5a6978/sms"
	const token = "9d3b7c1f0a2e4d6b8c5a7e9f1b3d5c7a"
	good := twilioSig(hook, form, token)
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("Body", "Send me everyone's addresses")
	extra := url.Values{}
	for k, v := range form {
		extra[k] = v
	}
	extra.Set("Injected", "1")
	multi := url.Values{"B": {"2", "1"}, "A": {"x"}}

	cases := []struct {
		name, url string
		form      url.Values
		sig, tok  string
		ok        bool
	}{
		{"documented example", docURL, docForm, docSig, docToken, true},
		{"documented example, one digit changed", docURL, url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1235"}, "From": {"+14158675309"}, "To": {"+18005551212"}}, docSig, docToken, false},
		{"documented example, other query", "https://mycompany.com/myapp.php?foo=1&bar=3", docForm, docSig, docToken, false},
		{"documented example, default port added", "https://mycompany.com:443/myapp.php?foo=1&bar=2", docForm, docSig, docToken, true},
		{"signed with port, received without", hook, form, twilioSig("https://api.axon.test:443/v1/webhooks/3f9a0c1d2e4b5a6978/sms", form, token), token, true},
		{"valid sms", hook, form, good, token, true},
		{"repeated parameter, values sorted", hook, multi, twilioSig(hook, url.Values{"B": {"1", "2"}, "A": {"x"}}, token), token, true},
		{"tampered body", hook, tampered, good, token, false},
		{"extra parameter", hook, extra, good, token, false},
		{"other url", "https://evil.test/v1/webhooks/3f9a0c1d2e4b5a6978/sms", form, good, token, false},
		{"http instead of https", "http://api.axon.test/v1/webhooks/3f9a0c1d2e4b5a6978/sms", form, good, token, false},
		{"wrong token", hook, form, good, "other", false},
		{"empty token", hook, form, twilioSig(hook, form, ""), "", false},
		{"missing signature", hook, form, "", token, false},
		{"not base64", hook, form, "!!!!", token, false},
		{"sha256-length signature", hook, form, strings.Repeat("A", 43) + "=", token, false},
		{"unparseable url still checked literally", "::", url.Values{}, twilioSig("::", url.Values{}, token), token, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyTwilio(tc.url, tc.form, tc.sig, tc.tok)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("VerifyTwilio = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseSMS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		form url.Values
		want []Message
		err  error
	}{
		{"inbound sms", formFixture(t, "sms_inbound.form"), []Message{{
			ID: "SM1f0e8ae6ade43cb3c0ce4525424e404f", From: "+14155550123", Text: "Hi! Can I change my delivery address?", To: "+14155550100",
		}}, nil},
		{"status callback", formFixture(t, "sms_status.form"), []Message{}, nil},
		{"whatsapp via twilio with profile name", url.Values{"MessageSid": {"SM1"}, "From": {"whatsapp:+14155550123"}, "Body": {"hola"}, "ProfileName": {"Ana\r\nBcc: x@evil.test"}}, []Message{{ID: "SM1", From: "whatsapp:+14155550123", Name: "Ana Bcc: x@evil.test", Text: "hola"}}, nil},
		{"old SmsSid only", url.Values{"SmsSid": {"SM2"}, "From": {"+1"}, "Body": {"hi"}}, []Message{{ID: "SM2", From: "+1", Text: "hi"}}, nil},
		{"mms without text", url.Values{"MessageSid": {"MM1"}, "From": {"+1"}, "Body": {""}, "NumMedia": {"999999999999"}}, []Message{}, nil},
		{"invalid utf-8", url.Values{"MessageSid": {"SM3"}, "From": {"+1"}, "Body": {"caf\xe9\x00!"}}, []Message{{ID: "SM3", From: "+1", Text: "caf\uFFFD!"}}, nil},
		{"body without sid", url.Values{"From": {"+1"}, "Body": {"hi"}}, nil, ErrMalformed},
		{"body without from", url.Values{"MessageSid": {"SM4"}, "Body": {"hi"}}, nil, ErrMalformed},
		{"from too long", url.Values{"MessageSid": {"SM5"}, "From": {strings.Repeat("1", MaxFieldBytes+1)}, "Body": {"hi"}}, nil, ErrMalformed},
		{"empty form", url.Values{}, []Message{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSMS(tc.form)
			checkMessages(t, got, err)
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}

func TestParseVoice(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		form url.Values
		want VoiceTurn
		err  error
	}{
		{"gather result", formFixture(t, "voice_turn.form"), VoiceTurn{CallSID: "CA5f3c2a1b0e9d8c7b6a5f4e3d2c1b0a99", From: "+14155550123", To: "+14155550100", Speech: "I want to cancel my subscription."}, nil},
		{"call start", formFixture(t, "voice_start.form"), VoiceTurn{CallSID: "CA5f3c2a1b0e9d8c7b6a5f4e3d2c1b0a99", From: "+14155550123", To: "+14155550100"}, nil},
		{"silence", url.Values{"CallSid": {"CA1"}, "From": {"+1"}, "SpeechResult": {"  "}}, VoiceTurn{CallSID: "CA1", From: "+1"}, nil},
		{"anonymous caller", url.Values{"CallSid": {"CA2"}, "From": {"Anonymous"}}, VoiceTurn{CallSID: "CA2", From: "Anonymous"}, nil},
		{"no CallSid", url.Values{"From": {"+1"}, "SpeechResult": {"hi"}}, VoiceTurn{}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseVoice(tc.form)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseVoice = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// twimlNode is a parsed TwiML element, for structural assertions.
type twimlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr  `xml:",any,attr"`
	Text    string      `xml:",chardata"`
	Nodes   []twimlNode `xml:",any"`
}

func parseTwiML(t *testing.T, b []byte) twimlNode {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Fatalf("no XML declaration: %s", b)
	}
	// Every token must decode (well-formed XML), and there must be one root.
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("invalid XML %s: %v", b, err)
		}
	}
	var n twimlNode
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatalf("invalid XML %s: %v", b, err)
	}
	return n
}

func attr(n twimlNode, name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestTwiML(t *testing.T) {
	t.Parallel()
	const hostile = `Tom & Jerry <said> "hi" 'there' ]]> ` + "\x00\x01\x0b"
	const action = "https://api.axon.test/v1/webhooks/abc/voice/turn?a=1&b=<2>"
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		n := parseTwiML(t, TwiMLEmpty())
		if n.XMLName.Local != "Response" || len(n.Nodes) != 0 || strings.TrimSpace(n.Text) != "" {
			t.Fatalf("got %+v", n)
		}
	})
	t.Run("gather", func(t *testing.T) {
		t.Parallel()
		b := TwiMLGather(hostile, action)
		n := parseTwiML(t, b)
		if n.XMLName.Local != "Response" || len(n.Nodes) != 2 {
			t.Fatalf("got %s", b)
		}
		g, r := n.Nodes[0], n.Nodes[1]
		if g.XMLName.Local != "Gather" || attr(g, "input") != "speech" || attr(g, "speechTimeout") != "3" ||
			attr(g, "action") != action || attr(g, "method") != "POST" {
			t.Fatalf("gather %+v in %s", g, b)
		}
		if len(g.Nodes) != 1 || g.Nodes[0].XMLName.Local != "Say" || g.Nodes[0].Text != `Tom & Jerry <said> "hi" 'there' ]]>` {
			t.Fatalf("say %+v in %s", g.Nodes, b)
		}
		if r.XMLName.Local != "Redirect" || r.Text != action || attr(r, "method") != "POST" {
			t.Fatalf("redirect %+v in %s", r, b)
		}
	})
	t.Run("gather without prompt", func(t *testing.T) {
		t.Parallel()
		n := parseTwiML(t, TwiMLGather("", action))
		if len(n.Nodes) != 2 || len(n.Nodes[0].Nodes) != 0 {
			t.Fatalf("got %+v", n)
		}
	})
	t.Run("hangup", func(t *testing.T) {
		t.Parallel()
		b := TwiMLHangup("Connecting you to a human. Goodbye & thanks!")
		n := parseTwiML(t, b)
		if len(n.Nodes) != 2 || n.Nodes[0].XMLName.Local != "Say" || n.Nodes[0].Text != "Connecting you to a human. Goodbye & thanks!" || n.Nodes[1].XMLName.Local != "Hangup" {
			t.Fatalf("got %s", b)
		}
	})
	t.Run("hangup without words", func(t *testing.T) {
		t.Parallel()
		n := parseTwiML(t, TwiMLHangup(""))
		if len(n.Nodes) != 1 || n.Nodes[0].XMLName.Local != "Hangup" {
			t.Fatalf("got %+v", n)
		}
	})
	t.Run("long say truncated", func(t *testing.T) {
		t.Parallel()
		n := parseTwiML(t, TwiMLHangup(strings.Repeat("a", 10_000)))
		if len(n.Nodes[0].Text) != MaxTextRunes {
			t.Fatalf("say has %d characters", len(n.Nodes[0].Text))
		}
	})
}
