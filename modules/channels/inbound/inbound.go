// Package inbound verifies and parses the webhooks that messaging platforms send to Axon
// (SPEC §5, "Webhooks"): WhatsApp Cloud API and Messenger (Meta's X-Hub-Signature-256),
// Telegram (the setWebhook secret token), Slack Events API (v0 signatures with a 5-minute
// window), Twilio SMS and voice (X-Twilio-Signature), and inbound e-mail (a shared key in
// the URL). It is pure: no I/O, no database, no clock of its own (callers pass now), no
// dependency on the channels module, so the HTTP handlers in modules/channels call it and
// its fuzz targets run in milliseconds.
//
// Every parser takes hostile input: it never panics, bounds its work and output (at most
// MaxMessages messages per payload, MaxTextRunes runes of text per message, MaxFieldBytes
// per address or id), replaces invalid UTF-8, drops NUL and control characters (single-line
// fields such as Name and Subject keep no line breaks, so they are safe to reuse in a
// reply's headers) and returns an error wrapping ErrMalformed for a body that is not the
// platform's shape. Payloads that are valid but are not customer messages (delivery
// statuses, echoes, edits, bot messages, status callbacks) give no messages and no error:
// the handler answers 200 and stores nothing.
//
// Verifiers return ErrSignature (HTTP 401 INVALID_SIGNATURE) and compare in constant time;
// an empty secret never verifies. See docs/decisions.md, "Inbound webhook parsing", for the
// choices the SPEC leaves open.
package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what one payload may produce.
const (
	// MaxMessages is the most messages one payload yields; a payload with more (a
	// platform batching under load) yields its first MaxMessages and the rest are dropped,
	// so the delivery is still acknowledged instead of being retried for ever.
	MaxMessages = 100
	// MaxTextRunes caps Message.Text and VoiceTurn.Speech; longer text is truncated.
	MaxTextRunes = 4000
	// MaxSubjectRunes caps Message.Subject (RFC 5322's line length); longer is truncated.
	MaxSubjectRunes = 998
	// MaxNameRunes caps Message.Name; longer is truncated.
	MaxNameRunes = 200
	// MaxFieldBytes caps ids and addresses (ID, From, To, Thread, call ids). An address
	// longer than this is malformed (truncating it would send the reply elsewhere); a
	// longer id is replaced by "sha256:" and its hash, which keeps it unique.
	MaxFieldBytes = 256
	// MaxChallengeBytes caps the verification challenges echoed back to Meta and Slack.
	MaxChallengeBytes = 256
)

// Message is one inbound customer message.
type Message struct {
	// ID is the platform's message id, unique per channel: the dedupe key (WhatsApp wamid,
	// Messenger mid, Telegram "<chat_id>:<message_id>", Slack "<channel>:<ts>", Twilio
	// MessageSid, e-mail Message-ID or "sha256:<hex>" of from, date, subject and text).
	ID string
	// From is the customer's address on the platform, where replies go: E.164 phone for
	// WhatsApp and SMS, PSID for Messenger, chat id for Telegram, Slack channel id,
	// lower-cased e-mail address.
	From string
	// Name is the customer's display name when the payload gives one.
	Name string
	// Text is the message text: trimmed, at most MaxTextRunes runes, never empty.
	Text string
	// Thread is what to thread the reply under: Slack thread_ts (ts when the message is not
	// in a thread) or the e-mail's Message-ID (for In-Reply-To); "" otherwise.
	Thread string
	// Subject is the e-mail subject; "" for other platforms.
	Subject string
	// To is the business address the message was sent to, when the payload says: WhatsApp
	// metadata.phone_number_id, Messenger page id (recipient.id), Twilio To, Slack team id,
	// e-mail To address. Handlers may check it against the channel's configuration.
	To string
}

// ErrSignature means a webhook's signature, token or key did not verify (or was missing).
// Handlers answer 401 INVALID_SIGNATURE.
var ErrSignature = errors.New("inbound: signature verification failed")

// ErrMalformed is wrapped by every parse error (test with errors.Is). Handlers answer 400
// VALIDATION_ERROR; the error's message names the platform and the problem and never
// quotes the payload, so it is safe to show.
var ErrMalformed = errors.New("inbound: malformed payload")

// MalformedError is the error a parser returns for a payload that is not the platform's
// shape. errors.Is(err, ErrMalformed) holds for it.
type MalformedError struct {
	Platform string // "whatsapp", "messenger", "telegram", "slack", "twilio", "email", "meta"
	Reason   string // fixed text from this package, never payload content
}

func (e *MalformedError) Error() string {
	return "inbound: malformed " + e.Platform + " payload: " + e.Reason
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(platform, reason string) error {
	return &MalformedError{Platform: platform, Reason: reason}
}

// equalSecret compares two secrets in constant time, also in their lengths (both are
// hashed first). An empty want never matches.
func equalSecret(given, want string) bool {
	if want == "" {
		return false
	}
	g := sha256.Sum256([]byte(given))
	w := sha256.Sum256([]byte(want))
	return hmac.Equal(g[:], w[:])
}

// cleanText makes payload text safe to store: valid UTF-8, no NUL or control characters
// but newline and tab (CR LF and lone CR become LF), trimmed, at most maxRunes runes.
func cleanText(s string, maxRunes int) string {
	return clean(s, maxRunes, false)
}

// cleanLine is cleanText for single-line fields: every control character, line breaks
// included, becomes a space, so the value can be reused in a header.
func cleanLine(s string, maxRunes int) string {
	return clean(s, maxRunes, true)
}

func clean(s string, maxRunes int, line bool) string {
	// Work on a bounded prefix: at most 4 bytes per kept rune, plus slack for the
	// characters that are dropped (CR of CR LF); never more than the input.
	if limit := maxRunes*4 + 64; len(s) > limit {
		s = s[:limit]
	}
	var b strings.Builder
	b.Grow(len(s))
	runes := 0
	for i := 0; i < len(s) && runes < maxRunes; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '\uFFFD'
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue // CR LF: the LF that follows is kept
			}
			r = '\n'
		case r == '\n' || r == '\t':
		case r == 0:
			continue
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			if !line {
				continue
			}
			r = ' '
		}
		if line && (r == '\n' || r == '\t') {
			r = ' '
		}
		b.WriteRune(r)
		runes++
	}
	return strings.TrimSpace(b.String())
}

// cleanID bounds an id: cleaned to one line; an id longer than MaxFieldBytes becomes
// "sha256:<hex>" of the whole id so two long ids stay distinct.
func cleanID(s string) string {
	if len(s) > MaxFieldBytes {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return cleanLine(s, MaxFieldBytes)
}

// cleanAddr returns a cleaned address and whether it is usable: non-empty, at most
// MaxFieldBytes, one line.
func cleanAddr(s string) (string, bool) {
	if len(s) > MaxFieldBytes {
		return "", false
	}
	c := cleanLine(s, MaxFieldBytes)
	return c, c != "" && !strings.ContainsRune(c, '\uFFFD')
}

// jsonObject reports whether body starts (after white space) with '{': a parser that
// expects an object rejects null, arrays and scalars before decoding.
func jsonObject(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// collector gathers messages up to MaxMessages.
type collector struct {
	msgs []Message
}

// add appends m when it has text and there is room; it reports whether there is room for
// more.
func (c *collector) add(m Message) bool {
	if len(c.msgs) >= MaxMessages {
		return false
	}
	if m.Text != "" {
		c.msgs = append(c.msgs, m)
	}
	return len(c.msgs) < MaxMessages
}

func (c *collector) full() bool { return len(c.msgs) >= MaxMessages }

// result returns the messages, never nil, so callers may range and len without a check.
func (c *collector) result() []Message {
	if c.msgs == nil {
		return []Message{}
	}
	return c.msgs
}
