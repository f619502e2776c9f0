package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// VerifyMeta checks Meta's X-Hub-Signature-256 header ("sha256=<hex>"): the HMAC-SHA256 of
// the raw body keyed with the app secret. It returns ErrSignature when the header is
// missing or wrong or appSecret is empty.
func VerifyMeta(body []byte, header, appSecret string) error {
	if appSecret == "" {
		return ErrSignature
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrSignature
	}
	given, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignature
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), given) {
		return ErrSignature
	}
	return nil
}

// MetaChallenge answers Meta's subscription handshake (GET with hub.mode=subscribe,
// hub.verify_token and hub.challenge): it returns the challenge to echo as text/plain.
// A wrong or missing token, or an empty verifyToken, is ErrSignature; a missing mode or
// challenge, or a challenge that is not 1 to MaxChallengeBytes URL-safe characters
// (Meta sends digits), is malformed, so the echo can never carry markup.
func MetaChallenge(q url.Values, verifyToken string) (string, error) {
	if q.Get("hub.mode") != "subscribe" {
		return "", malformed("meta", "hub.mode is not subscribe")
	}
	if !equalSecret(q.Get("hub.verify_token"), verifyToken) {
		return "", ErrSignature
	}
	challenge := q.Get("hub.challenge")
	if !safeChallenge(challenge) {
		return "", malformed("meta", "hub.challenge is missing or not URL-safe")
	}
	return challenge, nil
}

// safeChallenge reports whether s is 1 to MaxChallengeBytes of [A-Za-z0-9._~-].
func safeChallenge(s string) bool {
	if s == "" || len(s) > MaxChallengeBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

// waPayload is the WhatsApp Cloud API webhook (object "whatsapp_business_account").
type waPayload struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					WaID    string `json:"wa_id"`
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
				} `json:"contacts"`
				Messages []waMessage `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type waMessage struct {
	From string `json:"from"`
	ID   string `json:"id"`
	Type string `json:"type"`
	Text struct {
		Body string `json:"body"`
	} `json:"text"`
	Button struct {
		Text string `json:"text"`
	} `json:"button"`
	Interactive struct {
		Type        string `json:"type"`
		ButtonReply struct {
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply struct {
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
}

// text returns the customer's words: the text body, a quick-reply button's text or an
// interactive button/list reply's title. Media, reactions, locations and system messages
// have none.
func (m *waMessage) text() string {
	switch m.Type {
	case "text":
		return m.Text.Body
	case "button":
		return m.Button.Text
	case "interactive":
		switch m.Interactive.Type {
		case "button_reply":
			return m.Interactive.ButtonReply.Title
		case "list_reply":
			return m.Interactive.ListReply.Title
		}
	}
	return ""
}

// ParseWhatsApp returns the customer messages of a WhatsApp Cloud API webhook
// (entry[].changes[].value.messages[]): text messages, template quick-reply buttons
// (button.text) and interactive button/list replies (their titles). From is the sender in
// E.164 ("+" and wa_id), Name the matching contacts[].profile.name, To the receiving
// phone_number_id. Statuses-only payloads, other objects and other fields give no
// messages. A message without id or with a from that is not a phone number is malformed.
func ParseWhatsApp(body []byte) ([]Message, error) {
	if !jsonObject(body) {
		return nil, malformed("whatsapp", "body is not a JSON object")
	}
	var p waPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, malformed("whatsapp", "body is not a WhatsApp webhook")
	}
	var c collector
	if p.Object != "whatsapp_business_account" {
		return c.result(), nil
	}
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			if ch.Field != "messages" {
				continue
			}
			v := &ch.Value
			for i := range v.Messages {
				if c.full() {
					return c.result(), nil
				}
				m := &v.Messages[i]
				text := cleanText(m.text(), MaxTextRunes)
				if text == "" {
					continue
				}
				from, ok := e164(m.From)
				if !ok {
					return nil, malformed("whatsapp", "message from is not a phone number")
				}
				id := cleanID(m.ID)
				if id == "" {
					return nil, malformed("whatsapp", "message has no id")
				}
				name := ""
				for _, ct := range v.Contacts {
					if ct.WaID == m.From || len(v.Contacts) == 1 {
						name = ct.Profile.Name
						break
					}
				}
				c.add(Message{
					ID:   id,
					From: from,
					Name: cleanLine(name, MaxNameRunes),
					Text: text,
					To:   cleanID(v.Metadata.PhoneNumberID),
				})
			}
		}
	}
	return c.result(), nil
}

// e164 turns a WhatsApp wa_id or Twilio number ("16505551234" or "+16505551234") into
// "+16505551234"; it reports false unless it is 1 to 20 digits.
func e164(s string) (string, bool) {
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || len(digits) > 20 {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	return "+" + digits, true
}

// msgrPayload is the Messenger Platform webhook (object "page").
type msgrPayload struct {
	Object string `json:"object"`
	Entry  []struct {
		Messaging []struct {
			Sender struct {
				ID string `json:"id"`
			} `json:"sender"`
			Recipient struct {
				ID string `json:"id"`
			} `json:"recipient"`
			Timestamp json.Number `json:"timestamp"`
			Message   *struct {
				MID    string `json:"mid"`
				Text   string `json:"text"`
				IsEcho bool   `json:"is_echo"`
			} `json:"message"`
			Postback *struct {
				MID   string `json:"mid"`
				Title string `json:"title"`
			} `json:"postback"`
		} `json:"messaging"`
	} `json:"entry"`
}

// ParseMessenger returns the customer messages of a Messenger Platform webhook
// (entry[].messaging[]): message.text (quick replies included), and postbacks (a tapped
// button, e.g. "Get Started") as their title, so the customer gets an answer to the first
// tap. From is the sender's PSID, To the page id. Echoes (is_echo), deliveries, reads,
// reactions, attachments without text and other objects give no messages. A message
// without mid or sender is malformed; a postback without mid gets the id
// "postback:<psid>:<timestamp>".
func ParseMessenger(body []byte) ([]Message, error) {
	if !jsonObject(body) {
		return nil, malformed("messenger", "body is not a JSON object")
	}
	var p msgrPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, malformed("messenger", "body is not a Messenger webhook")
	}
	var c collector
	if p.Object != "page" {
		return c.result(), nil
	}
	for _, e := range p.Entry {
		for i := range e.Messaging {
			if c.full() {
				return c.result(), nil
			}
			ev := &e.Messaging[i]
			var id, text string
			switch {
			case ev.Message != nil && !ev.Message.IsEcho:
				id, text = ev.Message.MID, ev.Message.Text
			case ev.Postback != nil:
				id, text = ev.Postback.MID, ev.Postback.Title
				if id == "" && ev.Sender.ID != "" {
					id = "postback:" + ev.Sender.ID + ":" + ev.Timestamp.String()
				}
			default:
				continue
			}
			text = cleanText(text, MaxTextRunes)
			if text == "" {
				continue
			}
			from, ok := cleanAddr(ev.Sender.ID)
			if !ok {
				return nil, malformed("messenger", "message has no sender id")
			}
			id = cleanID(id)
			if id == "" {
				return nil, malformed("messenger", "message has no mid")
			}
			c.add(Message{ID: id, From: from, Text: text, To: cleanID(ev.Recipient.ID)})
		}
	}
	return c.result(), nil
}

// formatInt is strconv.FormatInt, named for the call sites that build ids.
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
