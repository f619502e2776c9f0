package inbound

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifyTelegram(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, secret string
		want                 error
	}{
		{"valid", "Zx9-secret_token", "Zx9-secret_token", nil},
		{"wrong", "Zx9-secret_tokem", "Zx9-secret_token", ErrSignature},
		{"prefix", "Zx9-secret", "Zx9-secret_token", ErrSignature},
		{"missing header", "", "Zx9-secret_token", ErrSignature},
		{"empty secret never verifies", "", "", ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := VerifyTelegram(tc.header, tc.secret); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifyTelegram = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseTelegram(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body []byte
		want []Message
		err  error
	}{
		{"text", fixture(t, "telegram_text.json"), []Message{{ID: "1111111:1365", From: "1111111", Name: "Ada Lovelace", Text: "How do I reset my password?"}}, nil},
		{"group command", fixture(t, "telegram_group.json"), []Message{{ID: "-1009876543210:77", From: "-1009876543210", Name: "Grace", Text: "/start"}}, nil},
		{"edited_message", fixture(t, "telegram_edited.json"), []Message{}, nil},
		{"channel_post", fixture(t, "telegram_channel_post.json"), []Message{}, nil},
		{"callback_query", fixture(t, "telegram_callback.json"), []Message{}, nil},
		{"photo with caption", fixture(t, "telegram_photo.json"), []Message{}, nil},
		{"from a bot", []byte(`{"update_id":1,"message":{"message_id":2,"from":{"id":3,"is_bot":true,"first_name":"B"},"chat":{"id":3},"text":"hi"}}`), []Message{}, nil},
		{"no chat id", []byte(`{"update_id":1,"message":{"message_id":2,"text":"hi"}}`), nil, ErrMalformed},
		{"chat id not a number", []byte(`{"update_id":1,"message":{"message_id":2,"chat":{"id":"3"},"text":"hi"}}`), nil, ErrMalformed},
		{"chat id overflows", []byte(`{"update_id":1,"message":{"message_id":2,"chat":{"id":99999999999999999999},"text":"hi"}}`), nil, ErrMalformed},
		{"not json", []byte(`update_id=1`), nil, ErrMalformed},
		{"array", []byte(`[{"update_id":1}]`), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTelegram(tc.body)
			checkMessages(t, got, err)
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}

func TestVerifySlack(t *testing.T) {
	t.Parallel()
	// Slack's documented example (docs "Verifying requests from Slack").
	docBody := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	const docSecret, docTS = "8f742231b10e8888abcd99yyyzzz85a5", "1531420618"
	const docSig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	docNow := time.Unix(1531420618, 0).Add(time.Minute)

	body := fixture(t, "slack_message.json")
	const secret = "e5a1c0ffee0b4d6a9c3b7f21d8e4a6b2"
	now := time.Unix(1_760_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := slackSig(body, ts, secret)
	stale := strconv.FormatInt(now.Add(-SlackMaxSkew-time.Second).Unix(), 10)
	future := strconv.FormatInt(now.Add(SlackMaxSkew+time.Second).Unix(), 10)
	edge := strconv.FormatInt(now.Add(-SlackMaxSkew).Unix(), 10)
	cases := []struct {
		name          string
		body          []byte
		ts, sig, sec  string
		now           time.Time
		want          error
		wantSignature bool
	}{
		{"documented example", docBody, docTS, docSig, docSecret, docNow, nil, false},
		{"documented example, body changed", append(append([]byte(nil), docBody...), '&'), docTS, docSig, docSecret, docNow, ErrSignature, true},
		{"valid", body, ts, good, secret, now, nil, false},
		{"5 minutes old", body, edge, slackSig(body, edge, secret), secret, now, nil, false},
		{"stale timestamp", body, stale, slackSig(body, stale, secret), secret, now, ErrSignature, true},
		{"future timestamp", body, future, slackSig(body, future, secret), secret, now, ErrSignature, true},
		{"timestamp replaced", body, edge, good, secret, now, ErrSignature, true},
		{"tampered body", []byte(strings.Replace(string(body), "down", "up", 1)), ts, good, secret, now, ErrSignature, true},
		{"wrong secret", body, ts, good, "other", now, ErrSignature, true},
		{"empty secret", body, ts, slackSig(body, ts, ""), "", now, ErrSignature, true},
		{"missing signature", body, ts, "", secret, now, ErrSignature, true},
		{"missing timestamp", body, "", good, secret, now, ErrSignature, true},
		{"timestamp not a number", body, "17e8", good, secret, now, ErrSignature, true},
		{"v1 signature", body, ts, "v1=" + strings.TrimPrefix(good, "v0="), secret, now, ErrSignature, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySlack(tc.body, tc.ts, tc.sig, tc.sec, tc.now)
			if tc.wantSignature != (err != nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("VerifySlack = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseSlack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		body      []byte
		challenge string
		want      []Message
		err       error
	}{
		{"url_verification", fixture(t, "slack_url_verification.json"), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", []Message{}, nil},
		{"message", fixture(t, "slack_message.json"), "", []Message{{ID: "D024BE91L:1355517523.000005", From: "D024BE91L", Text: "Is the API down?", Thread: "1355517523.000005", To: "T123ABC456"}}, nil},
		{"app_mention in a thread", fixture(t, "slack_app_mention.json"), "", []Message{{ID: "C123ABC456:1515449522.000016", From: "C123ABC456", Text: "what are your opening hours?", Thread: "1515449438.000011", To: "T123ABC456"}}, nil},
		{"bot_message subtype", fixture(t, "slack_bot_message.json"), "", []Message{}, nil},
		{"bot_id without subtype", fixture(t, "slack_bot_id.json"), "", []Message{}, nil},
		{"message_changed", fixture(t, "slack_message_changed.json"), "", []Message{}, nil},
		{"reaction_added", fixture(t, "slack_reaction.json"), "", []Message{}, nil},
		{"app_rate_limited", []byte(`{"token":"x","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}`), "", []Message{}, nil},
		{"mention only", []byte(`{"type":"event_callback","event":{"type":"app_mention","text":"<@U0LAN0Z89>","channel":"C1","ts":"1.2"}}`), "", []Message{}, nil},
		{"event_callback without event", []byte(`{"type":"event_callback"}`), "", nil, ErrMalformed},
		{"no channel", []byte(`{"type":"event_callback","event":{"type":"message","text":"hi","ts":"1.2"}}`), "", nil, ErrMalformed},
		{"no ts", []byte(`{"type":"event_callback","event":{"type":"message","text":"hi","channel":"C1"}}`), "", nil, ErrMalformed},
		{"challenge with markup", []byte(`{"type":"url_verification","challenge":"<b>x</b>"}`), "", nil, ErrMalformed},
		{"event not an object", []byte(`{"type":"event_callback","event":[]}`), "", nil, ErrMalformed},
		{"form body (interactivity)", []byte(`payload=%7B%22type%22%3A%22block_actions%22%7D`), "", nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			challenge, got, err := ParseSlack(tc.body)
			checkMessages(t, got, err)
			if challenge != tc.challenge {
				t.Fatalf("challenge = %q, want %q", challenge, tc.challenge)
			}
			assertParsed(t, got, err, tc.want, tc.err)
		})
	}
}
