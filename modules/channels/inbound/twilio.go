package inbound

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" // Twilio signs webhooks with HMAC-SHA1 (HMAC-SHA1 is not broken)
	"encoding/base64"
	"encoding/xml"
	"hash"
	"net"
	"net/url"
	"slices"
	"strings"
)

// VerifyTwilio checks X-Twilio-Signature as Twilio documents it: base64 of the
// HMAC-SHA1, keyed with the auth token, of the full URL Twilio requested (scheme, host,
// path and query string) followed by every POST parameter's name and value, sorted by
// name (a repeated name's values sorted too), with no separators. Like Twilio's helper
// libraries it also accepts the URL with the default port added or any port removed,
// because proxies differ in what they report. An empty signature or auth token, or a
// mismatch, is ErrSignature.
func VerifyTwilio(fullURL string, form url.Values, signature, authToken string) error {
	if authToken == "" || signature == "" || len(signature) > 64 {
		return ErrSignature
	}
	given, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(given) != sha1.Size {
		return ErrSignature
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	params := twilioParams(form)
	ok := false
	for _, u := range twilioURLs(fullURL) {
		// Every candidate is computed, so the time taken does not depend on which matched.
		if hmac.Equal(twilioSign(mac, u, params), given) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// twilioParams is the signed tail: names sorted, each followed by its value, a repeated
// name once per value in sorted order.
func twilioParams(form url.Values) []byte {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		vals := slices.Clone(form[k])
		slices.Sort(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.Bytes()
}

func twilioSign(mac hash.Hash, u string, params []byte) []byte {
	mac.Reset()
	mac.Write([]byte(u))
	mac.Write(params)
	return mac.Sum(nil)
}

// twilioURLs returns fullURL, then fullURL without its port and with the scheme's default
// port, when those differ (at most three).
func twilioURLs(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		v := *u
		v.Host = host
		out = append(out, v.String())
	} else {
		def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
		if def != "" {
			v := *u
			v.Host = net.JoinHostPort(u.Hostname(), def)
			out = append(out, v.String())
		}
	}
	return out
}

// ParseSMS returns the customer message of a Twilio Messaging webhook: ID the
// MessageSid (SmsSid in old requests), From the sender number, Name the ProfileName
// (WhatsApp senders), To the receiving number. A status callback (no Body parameter) and a
// message without text (MMS with media only) give none; a Body without MessageSid or From
// is malformed.
func ParseSMS(form url.Values) ([]Message, error) {
	var c collector
	bodies, ok := form["Body"]
	if !ok || len(bodies) == 0 {
		return c.result(), nil
	}
	text := cleanText(bodies[0], MaxTextRunes)
	if text == "" {
		return c.result(), nil
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	id := cleanID(sid)
	if id == "" {
		return nil, malformed("twilio", "message has no MessageSid")
	}
	from, ok := cleanAddr(form.Get("From"))
	if !ok {
		return nil, malformed("twilio", "message has no From")
	}
	c.add(Message{
		ID:   id,
		From: from,
		Name: cleanLine(form.Get("ProfileName"), MaxNameRunes),
		Text: text,
		To:   cleanID(form.Get("To")),
	})
	return c.result(), nil
}

// VoiceTurn is one Twilio voice webhook: the call, the caller and what the caller said
// (SpeechResult of a <Gather input="speech">; "" on the first request of a call, and when
// Twilio heard nothing).
type VoiceTurn struct {
	CallSID string
	From    string
	To      string
	Speech  string
}

// ParseVoice reads a Twilio voice webhook (the call's first request or a <Gather>
// action): CallSid, From, To and SpeechResult (trimmed, at most MaxTextRunes runes). A
// request without CallSid is malformed. From may be "" (Twilio sends "Anonymous" or an
// empty value for withheld numbers, which is kept as sent).
func ParseVoice(form url.Values) (VoiceTurn, error) {
	sid := cleanID(form.Get("CallSid"))
	if sid == "" {
		return VoiceTurn{}, malformed("twilio", "voice request has no CallSid")
	}
	return VoiceTurn{
		CallSID: sid,
		From:    cleanID(form.Get("From")),
		To:      cleanID(form.Get("To")),
		Speech:  cleanText(form.Get("SpeechResult"), MaxTextRunes),
	}, nil
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>`

// TwiMLEmpty is the TwiML that tells Twilio to do nothing (the SMS webhook's answer: the
// reply goes out later through the Messages API).
func TwiMLEmpty() []byte {
	return []byte(xmlHeader + "<Response/>")
}

// TwiMLGather says say (if not empty), then listens for speech and posts it to action:
// <Gather input="speech" speechTimeout="3" action=… method="POST"> with the <Say> inside,
// so the caller can interrupt the prompt (barge-in), followed by a <Redirect> to action,
// so a caller who says nothing still reaches the action (with no SpeechResult: the
// "Sorry, I didn't catch that." turn) instead of the call ending. say is truncated to
// MaxTextRunes runes (Twilio's <Say> limit is 4,096 characters); both are XML-escaped.
func TwiMLGather(say, action string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader + `<Response><Gather input="speech" speechTimeout="3" action="`)
	escapeXML(&b, action)
	b.WriteString(`" method="POST">`)
	writeSay(&b, say)
	b.WriteString(`</Gather><Redirect method="POST">`)
	escapeXML(&b, action)
	b.WriteString(`</Redirect></Response>`)
	return b.Bytes()
}

// TwiMLHangup says say (if not empty) and ends the call.
func TwiMLHangup(say string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader + `<Response>`)
	writeSay(&b, say)
	b.WriteString(`<Hangup/></Response>`)
	return b.Bytes()
}

func writeSay(b *bytes.Buffer, say string) {
	say = cleanText(say, MaxTextRunes)
	if say == "" {
		return
	}
	b.WriteString("<Say>")
	escapeXML(b, say)
	b.WriteString("</Say>")
}

// escapeXML writes s escaped for XML text and attribute values; characters XML does not
// allow become U+FFFD.
func escapeXML(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a bytes.Buffer never fails
}
