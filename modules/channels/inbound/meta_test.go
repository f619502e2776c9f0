package inbound

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestVerifyMeta(t *testing.T) {
	t.Parallel()
	body := fixture(t, "whatsapp_text.json")
	const secret = "6f1c3bd2a7e94c0b8d5e2f7a9c1b3d4e"
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)/2] ^= 1
	good := metaSig(body, secret)
	cases := []struct {
		name, header, secret string
		body                 []byte
		want                 error
	}{
		// Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
		{"known answer", "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8", "key", []byte("The quick brown fox jumps over the lazy dog"), nil},
		{"known answer, other body", "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8", "key", []byte("The quick brown fox jumps over the lazy cog"), ErrSignature},
		{"valid", good, secret, body, nil},
		{"tampered body", good, secret, tampered, ErrSignature},
		{"wrong secret", good, "other", body, ErrSignature},
		{"empty secret", metaSig(body, ""), "", body, ErrSignature},
		{"missing header", "", secret, body, ErrSignature},
		{"no prefix", strings.TrimPrefix(good, "sha256="), secret, body, ErrSignature},
		{"sha1 prefix", "sha1=" + strings.TrimPrefix(good, "sha256="), secret, body, ErrSignature},
		{"upper-case hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), secret, body, nil},
		{"truncated", good[:len(good)-2], secret, body, ErrSignature},
		{"not hex", "sha256=" + strings.Repeat("zz", 32), secret, body, ErrSignature},
		{"extra", good + "00", secret, body, ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := VerifyMeta(tc.body, tc.header, tc.secret); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifyMeta = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMetaChallenge(t *testing.T) {
	t.Parallel()
	q := func(mode, token, challenge string) url.Values {
		return url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
	}
	cases := []struct {
		name  string
		q     url.Values
		token string
		want  string
		err   error
	}{
		{"valid", q("subscribe", "vt-123", "1158201444"), "vt-123", "1158201444", nil},
		{"wrong token", q("subscribe", "vt-124", "1158201444"), "vt-123", "", ErrSignature},
		{"empty configured token", q("subscribe", "", "1158201444"), "", "", ErrSignature},
		{"missing token", url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1"}}, "vt-123", "", ErrSignature},
		{"wrong mode", q("unsubscribe", "vt-123", "1158201444"), "vt-123", "", ErrMalformed},
		{"missing challenge", q("subscribe", "vt-123", ""), "vt-123", "", ErrMalformed},
		{"markup challenge", q("subscribe", "vt-123", "<script>alert(1)</script>"), "vt-123", "", ErrMalformed},
		{"long challenge", q("subscribe", "vt-123", strings.Repeat("1", MaxChallengeBytes+1)), "vt-123", "", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := MetaChallenge(tc.q, tc.token)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("MetaChallenge = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseWhatsApp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body []byte
		want []Message
		err  error
	}{
		{"text", fixture(t, "whatsapp_text.json"), []Message{{
			ID:   "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
			From: "+16505551234", Name: "Sheena Nelson", Text: "Does it come in another color?", To: "106540352242922",
		}}, nil},
		{"interactive, button, media, reaction", fixture(t, "whatsapp_interactive.json"), []Message{
			{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", From: "+16505551234", Name: "Sheena Nelson", Text: "Track my order", To: "106540352242922"},
			{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMQA=", From: "+16505551111", Name: "Pablo Morales", Text: "Express Shipping", To: "106540352242922"},
			{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMgA=", From: "+16505551111", Name: "Pablo Morales", Text: "Unsubscribe from Promos", To: "106540352242922"},
		}, nil},
		{"statuses only", fixture(t, "whatsapp_statuses.json"), []Message{}, nil},
		{"other object", []byte(`{"object":"page","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"x","type":"text","text":{"body":"hi"}}]}}]}]}`), []Message{}, nil},
		{"other field", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"account_update","value":{"messages":[{"from":"1","id":"x","type":"text","text":{"body":"hi"}}]}}]}]}`), []Message{}, nil},
		{"blank text", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"x","type":"text","text":{"body":" \n\t "}}]}}]}]}`), []Message{}, nil},
		{
			"invalid utf-8 and NUL sanitized", []byte("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"field\":\"messages\",\"value\":{\"messages\":[{\"from\":\"1\",\"id\":\"x\",\"type\":\"text\",\"text\":{\"body\":\"a\xffb\\u0000c\\r\\nd\"}}]}}]}]}"),
			[]Message{{ID: "x", From: "+1", Text: "a\uFFFDbc\nd"}},
			nil,
		},
		{"not json", []byte(`object=whatsapp`), nil, ErrMalformed},
		{"null", []byte(`null`), nil, ErrMalformed},
		{"array", []byte(`[]`), nil, ErrMalformed},
		{"empty", nil, nil, ErrMalformed},
		{"truncated", fixture(t, "whatsapp_text.json")[:100], nil, ErrMalformed},
		{"entry not a list", []byte(`{"object":"whatsapp_business_account","entry":{}}`), nil, ErrMalformed},
		{"body not a string", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"x","type":"text","text":{"body":5}}]}}]}]}`), nil, ErrMalformed},
		{"from not a number", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"+1 650","id":"x","type":"text","text":{"body":"hi"}}]}}]}]}`), nil, ErrMalformed},
		{"no id", []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","type":"text","text":{"body":"hi"}}]}}]}]}`), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWhatsApp(tc.body)
			checkMessages(t, got, err)
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}

func TestParseMessenger(t *testing.T) {
	t.Parallel()
	const page, psid = "102371468949012", "6783458212847218"
	cases := []struct {
		name string
		body []byte
		want []Message
		err  error
	}{
		{"text", fixture(t, "messenger_text.json"), []Message{{
			ID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P", From: psid, Text: "Hi, where is my order #1234?", To: page,
		}}, nil},
		{"echo, delivery, read, reaction, attachment", fixture(t, "messenger_other.json"), []Message{}, nil},
		{"postbacks", fixture(t, "messenger_postback.json"), []Message{
			{ID: "m_pb1", From: psid, Text: "Get Started", To: page},
			{ID: "postback:" + psid + ":1762902680001", From: psid, Text: "Talk to a human", To: page},
		}, nil},
		{"instagram object", []byte(`{"object":"instagram","entry":[{"messaging":[{"sender":{"id":"1"},"message":{"mid":"m","text":"hi"}}]}]}`), []Message{}, nil},
		{"no mid", []byte(`{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"message":{"text":"hi"}}]}]}`), nil, ErrMalformed},
		{"no sender", []byte(`{"object":"page","entry":[{"messaging":[{"message":{"mid":"m","text":"hi"}}]}]}`), nil, ErrMalformed},
		{"messaging not a list", []byte(`{"object":"page","entry":[{"messaging":"x"}]}`), nil, ErrMalformed},
		{"timestamp not a number", []byte(`{"object":"page","entry":[{"messaging":[{"timestamp":"soon"}]}]}`), nil, ErrMalformed},
		{"not json", []byte(`<xml/>`), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMessenger(tc.body)
			checkMessages(t, got, err)
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}

func TestParseMetaCaps(t *testing.T) {
	t.Parallel()
	// 150 messages in one delivery: the first MaxMessages are kept.
	var msgs []string
	for i := range 150 {
		msgs = append(msgs, fmt.Sprintf(`{"sender":{"id":"1"},"recipient":{"id":"2"},"message":{"mid":"m%d","text":"hi %d"}}`, i, i))
	}
	body := []byte(`{"object":"page","entry":[{"messaging":[` + strings.Join(msgs, ",") + `]}]}`)
	got, err := ParseMessenger(body)
	checkMessages(t, got, err)
	if err != nil || len(got) != MaxMessages || got[0].ID != "m0" || got[MaxMessages-1].ID != fmt.Sprintf("m%d", MaxMessages-1) {
		t.Fatalf("got %d messages, %v", len(got), err)
	}
	// A 10,000-rune text is truncated to MaxTextRunes; a 1 KB id is hashed.
	long := strings.Repeat("é", 10_000)
	longID := strings.Repeat("i", 1024)
	body = []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"` + longID + `","type":"text","text":{"body":"` + long + `"}}]}}]}]}`)
	got, err = ParseWhatsApp(body)
	checkMessages(t, got, err)
	if err != nil || len(got) != 1 || got[0].Text != long[:2*MaxTextRunes] || !strings.HasPrefix(got[0].ID, "sha256:") {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// assertParsed compares a parser's result with the expected messages or error.
func assertParsed(t *testing.T, got []Message, err error, want []Message, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
