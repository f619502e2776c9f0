package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// SlackMaxSkew is how far X-Slack-Request-Timestamp may be from now (either way).
const SlackMaxSkew = 5 * time.Minute

// VerifySlack checks a Slack request: signature (X-Slack-Signature) is "v0=" and the hex
// HMAC-SHA256 of "v0:<timestamp>:<raw body>" keyed with the signing secret, and timestamp
// (X-Slack-Request-Timestamp, Unix seconds) is within SlackMaxSkew of now, which stops
// replays. Anything else, an empty secret included, is ErrSignature.
func VerifySlack(body []byte, timestamp, signature, signingSecret string, now time.Time) error {
	if signingSecret == "" || len(timestamp) > 20 {
		return ErrSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrSignature
	}
	skew := now.Unix() - ts
	if skew < -int64(SlackMaxSkew/time.Second) || skew > int64(SlackMaxSkew/time.Second) {
		return ErrSignature
	}
	hexSig, ok := strings.CutPrefix(signature, "v0=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrSignature
	}
	given, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignature
	}
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(":"))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), given) {
		return ErrSignature
	}
	return nil
}

// slackPayload is a Slack Events API request.
type slackPayload struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	TeamID    string `json:"team_id"`
	Event     *struct {
		Type     string `json:"type"`
		Subtype  string `json:"subtype"`
		BotID    string `json:"bot_id"`
		User     string `json:"user"`
		Channel  string `json:"channel"`
		Text     string `json:"text"`
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"event"`
}

// ParseSlack reads a Slack Events API request. url_verification returns its challenge
// (to echo as text/plain; 1 to MaxChallengeBytes URL-safe characters, else malformed).
// event_callback with an event of type message or app_mention, no subtype (edits,
// deletions, joins, bot_message…) and no bot_id returns one Message: ID "<channel>:<ts>"
// (the same for the message and app_mention events of one post, so the second is a
// redelivery), From the channel id, Thread the thread_ts or ts, To the team id, Text with
// the leading @-mentions of app_mention removed. Anything else (other event types,
// app_rate_limited) gives nothing.
func ParseSlack(body []byte) (string, []Message, error) {
	if !jsonObject(body) {
		return "", nil, malformed("slack", "body is not a JSON object")
	}
	var p slackPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return "", nil, malformed("slack", "body is not a Slack event")
	}
	var c collector
	switch p.Type {
	case "url_verification":
		if !safeChallenge(p.Challenge) {
			return "", nil, malformed("slack", "challenge is missing or not URL-safe")
		}
		return p.Challenge, c.result(), nil
	case "event_callback":
	default:
		return "", c.result(), nil
	}
	ev := p.Event
	if ev == nil {
		return "", nil, malformed("slack", "event_callback without event")
	}
	if (ev.Type != "message" && ev.Type != "app_mention") || ev.Subtype != "" || ev.BotID != "" {
		return "", c.result(), nil
	}
	text := ev.Text
	if ev.Type == "app_mention" {
		text = stripMentions(text)
	}
	text = cleanText(text, MaxTextRunes)
	if text == "" {
		return "", c.result(), nil
	}
	channel, ok := cleanAddr(ev.Channel)
	if !ok {
		return "", nil, malformed("slack", "message has no channel")
	}
	ts := cleanID(ev.TS)
	if ts == "" {
		return "", nil, malformed("slack", "message has no ts")
	}
	thread := ts
	if ev.ThreadTS != "" {
		thread = cleanID(ev.ThreadTS)
	}
	c.add(Message{
		ID:     cleanID(channel + ":" + ts),
		From:   channel,
		Text:   text,
		Thread: thread,
		To:     cleanID(p.TeamID),
	})
	return "", c.result(), nil
}

// stripMentions removes the user mentions ("<@U0LAN0Z89>", "<@U0LAN0Z89|name>") that
// start an app_mention's text: they address the bot and are not the question.
func stripMentions(s string) string {
	for range 16 { // a bound: more leading mentions than this stay in the text
		s = strings.TrimLeft(s, " \t\n")
		if !strings.HasPrefix(s, "<@") {
			break
		}
		end := strings.IndexByte(s, '>')
		if end < 0 || end > 64 {
			break
		}
		s = s[end+1:]
	}
	return s
}
