package inbound

import "encoding/json"

// VerifyTelegram checks the X-Telegram-Bot-Api-Secret-Token header against the
// secret_token given to setWebhook, in constant time. An empty secret never verifies; a
// mismatch is ErrSignature.
func VerifyTelegram(header, secret string) error {
	if !equalSecret(header, secret) {
		return ErrSignature
	}
	return nil
}

// tgUpdate is a Telegram Bot API Update; only message is read.
type tgUpdate struct {
	Message *tgMessage `json:"message"`
}

type tgMessage struct {
	MessageID int64 `json:"message_id"`
	From      *struct {
		IsBot     bool   `json:"is_bot"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	} `json:"from"`
	Chat struct {
		ID int64 `json:"id"`
	} `json:"chat"`
	Text string `json:"text"`
}

// ParseTelegram returns the customer message of a Telegram Update: update.message with
// text (commands such as "/start" included, as typed). ID is "<chat_id>:<message_id>",
// From the chat id, Name the sender's first and last name. edited_message, channel_post,
// callback_query, messages without text (photos, stickers) and messages from bots give
// none. A body that is not an Update, or a message without chat id or message_id, is
// malformed.
func ParseTelegram(body []byte) ([]Message, error) {
	if !jsonObject(body) {
		return nil, malformed("telegram", "body is not a JSON object")
	}
	var u tgUpdate
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, malformed("telegram", "body is not a Telegram update")
	}
	var c collector
	m := u.Message
	if m == nil || (m.From != nil && m.From.IsBot) {
		return c.result(), nil
	}
	text := cleanText(m.Text, MaxTextRunes)
	if text == "" {
		return c.result(), nil
	}
	if m.Chat.ID == 0 || m.MessageID == 0 {
		return nil, malformed("telegram", "message has no chat id or message_id")
	}
	name := ""
	if m.From != nil {
		name = m.From.FirstName
		if m.From.LastName != "" {
			name += " " + m.From.LastName
		}
	}
	chat := formatInt(m.Chat.ID)
	c.add(Message{
		ID:   chat + ":" + formatInt(m.MessageID),
		From: chat,
		Name: cleanLine(name, MaxNameRunes),
		Text: text,
	})
	return c.result(), nil
}
