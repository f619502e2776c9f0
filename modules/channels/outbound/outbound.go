// Package outbound delivers one outbound text message on a messaging platform: the
// WhatsApp Cloud API and the Messenger Send API (Graph API), the Telegram Bot API, Slack's
// Web API, Twilio's Messages API (SMS) and Resend (replies on the EMAIL channel). It also
// sets and deletes Telegram webhooks. It is the transport under the channels.send_message
// job; it knows nothing of conversations or the database.
//
// Every API root is configurable (Config) so tests run against the fakes of
// platform/testkit/fakeplatforms.
//
// Long text is split into several messages at paragraph, line, sentence or word boundaries,
// never inside a UTF-8 sequence (Split): Telegram and WhatsApp take 4,096 characters,
// Messenger 2,000, Slack 40,000 (counted in UTF-16 code units, which is never less than the
// platform's own count), SMS at most 10 segments per Twilio message (SMSSegments). E-mail is
// never split.
//
// Errors are *Error values. A failure is permanent (retrying cannot help: a 4xx other than
// 408, 409, 425 and 429, a platform error code that says so, missing credentials) or
// retryable (5xx, 408, 409, 425, 429, network errors and timeouts, and the platform codes
// for rate limits and transient faults); RetryAfter carries the platform's Retry-After
// header (seconds or an HTTP date) or Telegram's parameters.retry_after. 409 is retryable
// because the only 409 a send can meet is a conflict that clears (Resend's
// concurrent_idempotent_requests); Resend's invalid_idempotent_request (the same key with
// another body) is the exception and permanent. An error string never holds a credential
// (Telegram's token is in the URL path: it is replaced in every *url.Error) nor the message
// text: the platform's description is scrubbed of both.
//
// Idempotency: only Resend takes an idempotency key (the Idempotency-Key header, kept 24 h).
// The Graph API, Telegram, Slack's chat.postMessage and Twilio's Messages API have none, so
// a request that timed out after the platform accepted it can be delivered twice on retry.
// What this package can do is make split messages resumable: Send reports how many parts
// are delivered, and a retry with Delivery.SkipParts set to that number resumes at the
// first undelivered part, so a failure at part 3 does not send parts 1 and 2 again.
//
// The EMAIL sender speaks Resend with net/http rather than resend-go: resend-go v2.28 can set
// the headers and the Idempotency-Key, but its error handling turns every 400, 401, 403, 422
// and 5xx into errors.New("[ERROR]: "+message), dropping the status code and the error
// name, so a permanent failure cannot be told from a retryable one.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Default API roots, used when a Config field is empty. The Graph roots include the API
// version (WHATSAPP_API_BASE and MESSENGER_API_BASE in SPEC §2); Slack's includes /api.
const (
	DefaultGraphBase    = "https://graph.facebook.com/v21.0"
	DefaultTelegramBase = "https://api.telegram.org"
	DefaultSlackBase    = "https://slack.com/api"
	DefaultTwilioBase   = "https://api.twilio.com"
	DefaultResendBase   = "https://api.resend.com"
)

// Channel types with a sender (VOICE replies are TwiML in the webhook answer: no sender).
const (
	WhatsApp  = "WHATSAPP"
	Messenger = "MESSENGER"
	Telegram  = "TELEGRAM"
	Slack     = "SLACK"
	SMS       = "SMS"
	Email     = "EMAIL"
)

// Config configures the senders. Empty API roots take the Default… values.
type Config struct {
	// WhatsAppBase and MessengerBase are Graph API roots with the version, such as
	// https://graph.facebook.com/v21.0 (WHATSAPP_API_BASE, MESSENGER_API_BASE).
	WhatsAppBase  string
	MessengerBase string
	// TelegramBase is the Bot API root, such as https://api.telegram.org (TELEGRAM_API_BASE).
	TelegramBase string
	// SlackBase is the Web API root, such as https://slack.com/api (SLACK_API_BASE).
	SlackBase string
	// TwilioBase is the REST root, such as https://api.twilio.com (TWILIO_API_BASE).
	TwilioBase string
	// ResendBase and ResendAPIKey are RESEND_BASE_URL and RESEND_API_KEY. Without a key
	// there is no EMAIL sender (For reports false).
	ResendBase   string
	ResendAPIKey string
	// HTTP is the client for every call (default: a 30 s timeout). Redirects are never
	// followed: the senders use a copy of it whose CheckRedirect stops at the first answer.
	HTTP *http.Client
}

// Delivery is one outbound message.
type Delivery struct {
	// Creds are the channel's credentials, keyed as in SPEC §5: WHATSAPP phoneNumberId,
	// accessToken; MESSENGER pageAccessToken; TELEGRAM botToken; SLACK botToken; SMS
	// accountSid, authToken, fromNumber; EMAIL fromAddress. Other keys are ignored.
	Creds map[string]string
	// To is the recipient: the WhatsApp number (wa_id), the Messenger PSID, the Telegram
	// chat id, the Slack channel id, the E.164 phone number, the e-mail address.
	To string
	// Thread is the Slack thread_ts, or the Message-ID the e-mail answers (In-Reply-To and
	// References); ignored elsewhere.
	Thread string
	// Subject is the e-mail subject being answered ("Re: " is added); ignored elsewhere.
	Subject string
	// Text is the message; it is split per platform (Split).
	Text string
	// IdempotencyKey is sent where the platform takes one (Resend). Use one key per
	// message, the same on every retry (for example "channels-message/<message id>").
	IdempotencyKey string
	// SkipParts is how many leading parts an earlier attempt delivered (Send's count).
	SkipParts int
}

// Sender delivers a Delivery on one platform.
type Sender interface {
	// Send delivers d's parts from d.SkipParts on, in order, and returns how many leading
	// parts are delivered in all (skipped ones included): len(Split(…)) on success. On an
	// error the count says where a retry resumes. The error is an *Error.
	Send(ctx context.Context, d Delivery) (delivered int, err error)
}

// Senders holds one sender per channel type.
type Senders struct {
	c       *client
	cfg     Config
	senders map[string]Sender
}

// New builds the senders.
func New(cfg Config) *Senders {
	cfg.WhatsAppBase = root(cfg.WhatsAppBase, DefaultGraphBase)
	cfg.MessengerBase = root(cfg.MessengerBase, DefaultGraphBase)
	cfg.TelegramBase = root(cfg.TelegramBase, DefaultTelegramBase)
	cfg.SlackBase = root(cfg.SlackBase, DefaultSlackBase)
	cfg.TwilioBase = root(cfg.TwilioBase, DefaultTwilioBase)
	cfg.ResendBase = root(cfg.ResendBase, DefaultResendBase)
	hc := http.Client{Timeout: 30 * time.Second}
	if cfg.HTTP != nil {
		hc = *cfg.HTTP
	}
	// A redirected POST becomes a GET and would carry the credentials elsewhere: an API
	// answers 3xx only when its root is misconfigured.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &client{http: &hc}
	s := &Senders{c: c, cfg: cfg, senders: map[string]Sender{
		WhatsApp:  whatsapp{c: c, base: cfg.WhatsAppBase},
		Messenger: messenger{c: c, base: cfg.MessengerBase},
		Telegram:  telegram{c: c, base: cfg.TelegramBase},
		Slack:     slack{c: c, base: cfg.SlackBase},
		SMS:       twilio{c: c, base: cfg.TwilioBase},
	}}
	if cfg.ResendAPIKey != "" {
		s.senders[Email] = resend{c: c, base: cfg.ResendBase, key: cfg.ResendAPIKey}
	}
	return s
}

func root(v, def string) string {
	if v == "" {
		v = def
	}
	return strings.TrimRight(v, "/")
}

// For returns the sender of a channel type (WHATSAPP, MESSENGER, TELEGRAM, SLACK, SMS,
// EMAIL), or false when there is none (WEB, VOICE, EMAIL without a Resend key).
func (s *Senders) For(channelType string) (Sender, bool) {
	v, ok := s.senders[channelType]
	return v, ok
}

// Error is a failed delivery or API call. Its message never holds a credential or the
// message text.
type Error struct {
	// Platform is whatsapp, messenger, telegram, slack, twilio or resend.
	Platform string
	// Op is the API method: messages, sendMessage, setWebhook, chat.postMessage, ….
	Op string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Code is the platform's error code: Slack's error name, Graph's code ("190" or
	// "100/33" with the subcode), Telegram's error_code, Twilio's code, Resend's name;
	// "missing_credentials", "empty_text", "no_recipient" for local refusals.
	Code string
	// Message is the platform's description, scrubbed and cut to 300 bytes.
	Message string
	// RetryAfter is how long the platform asked to wait (0 when it did not say).
	RetryAfter time.Duration
	// Permanent is true when retrying cannot help.
	Permanent bool
	// Err is the cause (a network error, with any URL in it redacted), or nil.
	Err error
}

// Error describes the failure.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("outbound: ")
	b.WriteString(e.Platform)
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Status != 0 {
		b.WriteString(": HTTP " + strconv.Itoa(e.Status))
	} else {
		b.WriteString(":")
	}
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Permanent {
		b.WriteString(" (permanent)")
	} else if e.RetryAfter > 0 {
		b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is an *Error that retrying cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns how long the platform asked to wait before a retry, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// retryableStatus reports whether an HTTP status is worth retrying: 5xx, 408 (request
// timeout), 409 (a conflicting request still in flight), 425 (too early) and 429.
func retryableStatus(status int) bool {
	switch {
	case status >= 500:
		return true
	case status == http.StatusRequestTimeout, status == http.StatusConflict,
		status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 86400*7)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// client performs the HTTP calls of every sender.
type client struct {
	http *http.Client
	// now is the clock for HTTP-date Retry-After values.
	now func() time.Time
}

// call is one HTTP request to a platform.
type call struct {
	platform, op string
	url          string
	// safeURL is url with any credential replaced; it is what errors show.
	safeURL string
	header  http.Header
	body    []byte
	// secrets are scrubbed from every message the call's errors carry.
	secrets []string
}

// reply is a platform's answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// maxReply bounds how much of an answer is read: the answers used are a few hundred bytes.
const maxReply = 64 << 10

// do runs c. Only a failure to get an answer is an error (retryable, or permanent when the
// request cannot be built); the caller judges the answer.
func (c *client) do(ctx context.Context, k call) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.url, bytes.NewReader(k.body))
	if err != nil {
		return reply{}, &Error{Platform: k.platform, Op: k.op, Code: "bad_request", Message: "cannot build the request", Permanent: true, Err: redactURL(err, k.safeURL)}
	}
	for name, v := range k.header {
		req.Header[name] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, &Error{Platform: k.platform, Op: k.op, Message: "no answer", Err: redactURL(err, k.safeURL)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return reply{}, &Error{Platform: k.platform, Op: k.op, Status: resp.StatusCode, Message: "answer cut short", Err: redactURL(err, k.safeURL)}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (c *client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// fail builds the *Error for a non-success answer: permanent unless the status (or retry,
// the platform-specific verdict) says a retry can help.
func (c *client) fail(k call, r reply, code, message string, retry bool) *Error {
	e := &Error{
		Platform: k.platform, Op: k.op, Status: r.status, Code: scrub(code, k.secrets),
		Message:    scrub(message, k.secrets),
		RetryAfter: parseRetryAfter(r.header.Get("Retry-After"), c.clock()),
	}
	e.Permanent = !retry && !retryableStatus(r.status)
	if e.Permanent {
		e.RetryAfter = 0
	}
	return e
}

// redactURL replaces the URL of a *url.Error (which may hold a token in its path) by safe.
func redactURL(err error, safe string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: safe, Err: ue.Err}
	}
	return err
}

// scrub removes every secret (credentials, message text) from a platform's description,
// drops control characters and cuts it to 300 bytes on a rune boundary.
func scrub(s string, secrets []string) string {
	if s == "" {
		return ""
	}
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// secretsOf lists what errors must not show: every credential value, the text and its
// parts, longest first so a text holding a token is replaced whole.
func secretsOf(d Delivery, parts []string, more ...string) []string {
	out := make([]string, 0, len(d.Creds)+len(parts)+len(more)+1)
	for _, v := range d.Creds {
		out = append(out, v)
	}
	out = append(out, d.Text)
	out = append(out, parts...)
	out = append(out, more...)
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// need returns the named credentials, or a permanent error naming the first missing one.
func need(platform string, d Delivery, keys ...string) ([]string, error) {
	vals := make([]string, len(keys))
	for i, k := range keys {
		v := strings.TrimSpace(d.Creds[k])
		if v == "" {
			return nil, &Error{Platform: platform, Code: "missing_credentials", Message: "credential " + k + " is missing", Permanent: true}
		}
		vals[i] = v
	}
	if strings.TrimSpace(d.To) == "" {
		return nil, &Error{Platform: platform, Code: "no_recipient", Message: "no recipient", Permanent: true}
	}
	return vals, nil
}

// sendParts splits d.Text for channelType and sends the parts from d.SkipParts on with one.
func sendParts(ctx context.Context, platform, channelType string, d Delivery, one func(ctx context.Context, part string, secrets []string) error) (int, error) {
	parts := Split(channelType, d.Text)
	if len(parts) == 0 {
		return 0, &Error{Platform: platform, Code: "empty_text", Message: "the message is empty", Permanent: true}
	}
	done := min(max(d.SkipParts, 0), len(parts))
	secrets := secretsOf(d, parts)
	for _, p := range parts[done:] {
		if err := ctx.Err(); err != nil {
			return done, &Error{Platform: platform, Message: "cancelled", Err: err}
		}
		if err := one(ctx, p, secrets); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

func jsonHeader(auth string) http.Header {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Accept": {"application/json"}}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	return h
}

// errUnexpected describes a 2xx answer whose body could not be read as the platform's.
func errUnexpected(body []byte) string {
	return fmt.Sprintf("unexpected answer (%d bytes)", len(body))
}
