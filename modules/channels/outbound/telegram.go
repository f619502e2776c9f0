package outbound

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"time"
)

// telegram sends through the Bot API: POST {base}/bot{token}/sendMessage {chat_id, text}.
// The token is in the path, so every URL an error shows is {base}/bot[redacted]/{method}.
type telegram struct {
	c    *client
	base string
}

func (s telegram) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("telegram", d, "botToken")
	if err != nil {
		return 0, err
	}
	return sendParts(ctx, "telegram", Telegram, d, func(ctx context.Context, part string, secrets []string) error {
		body, _ := json.Marshal(map[string]any{"chat_id": chatID(d.To), "text": part})
		return s.c.telegram(ctx, s.base, creds[0], "sendMessage", body, secrets)
	})
}

// chatID sends a numeric chat id as a JSON number (as Telegram gives it in updates) and
// anything else (an @channel name) as a string.
func chatID(to string) any {
	if n, err := strconv.ParseInt(to, 10, 64); err == nil {
		return n
	}
	return to
}

// telegramSecretRe is what Telegram accepts as a webhook secret_token.
var telegramSecretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// TelegramSetWebhook points the bot's updates at webhookURL: setWebhook with secret_token
// (Telegram sends it back in X-Telegram-Bot-Api-Secret-Token), allowed_updates ["message"],
// and drop_pending_updates when dropPending. It returns an *Error; a secret Telegram would
// refuse (1–256 of A–Z a–z 0–9 _ -) is refused here without a call.
func (s *Senders) TelegramSetWebhook(ctx context.Context, botToken, webhookURL, secret string, dropPending bool) error {
	if botToken == "" {
		return &Error{Platform: "telegram", Op: "setWebhook", Code: "missing_credentials", Message: "credential botToken is missing", Permanent: true}
	}
	if !telegramSecretRe.MatchString(secret) {
		return &Error{Platform: "telegram", Op: "setWebhook", Code: "bad_secret", Message: "the secret token must be 1-256 of A-Z a-z 0-9 _ -", Permanent: true}
	}
	req := map[string]any{"url": webhookURL, "secret_token": secret, "allowed_updates": []string{"message"}}
	if dropPending {
		req["drop_pending_updates"] = true
	}
	body, _ := json.Marshal(req)
	return s.c.telegram(ctx, s.cfg.TelegramBase, botToken, "setWebhook", body, []string{botToken, secret})
}

// TelegramDeleteWebhook removes the bot's webhook (deleteWebhook). It returns an *Error.
func (s *Senders) TelegramDeleteWebhook(ctx context.Context, botToken string) error {
	if botToken == "" {
		return &Error{Platform: "telegram", Op: "deleteWebhook", Code: "missing_credentials", Message: "credential botToken is missing", Permanent: true}
	}
	return s.c.telegram(ctx, s.cfg.TelegramBase, botToken, "deleteWebhook", []byte(`{}`), []string{botToken})
}

// telegramReply is the Bot API's answer envelope.
type telegramReply struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// telegram runs one Bot API method. Success is HTTP 2xx with ok:true. Errors: 429 (and any
// answer with parameters.retry_after) and 5xx are retryable; 400 (chat not found, text
// refused), 401 (token revoked), 403 (bot blocked by the user) and 404 are permanent.
func (c *client) telegram(ctx context.Context, base, token, method string, body []byte, secrets []string) error {
	k := call{
		platform: "telegram", op: method,
		url:     base + "/bot" + token + "/" + method,
		safeURL: base + "/bot[redacted]/" + method,
		header:  jsonHeader(""), body: body, secrets: secrets,
	}
	r, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	var tr telegramReply
	parsed := json.Unmarshal(r.body, &tr) == nil
	if r.status >= 200 && r.status < 300 && parsed && tr.OK {
		return nil
	}
	if !parsed {
		return c.fail(k, r, "", errUnexpected(r.body), r.status < 300)
	}
	code := ""
	if tr.ErrorCode != 0 {
		code = strconv.Itoa(tr.ErrorCode)
	}
	e := c.fail(k, r, code, tr.Description, tr.Parameters.RetryAfter > 0 || tr.ErrorCode == 429 || tr.ErrorCode >= 500)
	if tr.Parameters.RetryAfter > 0 {
		e.RetryAfter = time.Duration(tr.Parameters.RetryAfter) * time.Second
		e.Permanent = false
	}
	if tr.Parameters.MigrateToChatID != 0 {
		// The group became a supergroup with a new id: the old id never works again.
		e.Code = "migrated"
		e.Permanent = true
	}
	return e
}
