// Package fakeplatforms is an in-process fake of the messaging platforms Axon delivers to,
// for tests. One httptest server speaks, by path, the real wire format of:
//
//   - the Graph API (GraphBase = URL/v21.0; any /vNN.N version is accepted):
//     POST /{phoneNumberId}/messages (WhatsApp Cloud API) and POST /me/messages (Messenger
//     Send API), token as "Authorization: Bearer" or ?access_token=;
//   - the Telegram Bot API (TelegramBase = URL): POST /bot{token}/sendMessage, setWebhook,
//     deleteWebhook, getWebhookInfo, getMe;
//   - Slack's Web API (SlackBase = URL/api): POST /api/chat.postMessage, Bearer bot token,
//     errors as HTTP 200 {"ok":false,"error":…};
//   - Twilio's Messages API (TwilioBase = URL): POST
//     /2010-04-01/Accounts/{sid}/Messages.json, form fields, HTTP basic auth sid:authToken;
//   - Resend (ResendBase = URL): POST /emails, Bearer API key, Idempotency-Key honoured
//     (a repeat with the same key and body is answered with the first id and not sent
//     again; another body with a used key is a 409 invalid_idempotent_request).
//
// Credentials are checked as the real APIs do (a wrong token gets the platform's 401/403
// or Slack's invalid_auth) against Creds, which tests may change with SetCreds; so are the
// limits the senders must respect (Telegram and WhatsApp 4,096 UTF-16 units, Messenger
// 2,000, Slack 40,000, Twilio's 1,600-character body) and the required fields. Every request
// is recorded (Requests, Sent, Texts). Faults are programmed per platform with Fail: a
// status with the platform's error body, a Retry-After, a hang until the client gives up,
// or a dropped connection, for the next N requests.
//
// What it does not do: it does not require an HTTPS webhook URL in setWebhook (tests serve
// plain HTTP), does not know which chats or numbers exist (program a Fault for "chat not
// found"), and does not model Meta's 24-hour customer-service window.
package fakeplatforms

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Platform names, as used by Fail, Requests, Sent and Texts.
const (
	WhatsApp  = "whatsapp"
	Messenger = "messenger"
	Telegram  = "telegram"
	Slack     = "slack"
	Twilio    = "twilio"
	Resend    = "resend"
)

// Creds are the credentials the fake accepts.
type Creds struct {
	// WhatsApp
	PhoneNumberID, WhatsAppToken string
	// Messenger
	PageID, PageAccessToken string
	// AppSecret and VerifyToken are not checked here (they sign and verify webhooks); they
	// are in ChannelCreds for tests that also drive inbound webhooks.
	AppSecret, VerifyToken string
	// Telegram
	BotToken string
	// Slack (SigningSecret is for inbound webhooks, as above)
	SlackBotToken, SlackSigningSecret string
	// Twilio
	AccountSID, AuthToken, FromNumber string
	// Resend
	ResendAPIKey string
}

// DefaultCreds returns well-formed fake credentials (they pass the channels module's
// per-type validation).
func DefaultCreds() Creds {
	return Creds{
		PhoneNumberID: "106540352242922", WhatsAppToken: "EAAwafaketoken0123456789whatsapp",
		PageID: "112233445566778", PageAccessToken: "EAApagefaketoken0123456789messenger",
		AppSecret: "fakeappsecret0123456789abcdef", VerifyToken: "fake-verify-token",
		BotToken:      "123456789:AAFakeBotToken_abcdefghijklmnopqrstu",
		SlackBotToken: "xoxb-fake-0123456789-slacktoken", SlackSigningSecret: "fakesigningsecret0123456789abcd",
		AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "fakeauthtoken0123456789abcdef01", FromNumber: "+15550001111",
		ResendAPIKey: "re_fake_0123456789resendkey",
	}
}

// Request is one recorded HTTP request.
type Request struct {
	// Platform is one of the platform constants ("" for an unknown path).
	Platform string
	// Op is the API method: messages, sendMessage, setWebhook, chat.postMessage,
	// Messages.json, emails, ….
	Op     string
	Method string
	// Path is the path as received (Telegram's includes the bot token).
	Path   string
	Query  url.Values
	Header http.Header
	// Body is the decoded JSON object, or the form fields (first value each) for Twilio;
	// nil when the body was neither.
	Body map[string]any
	Raw  []byte
	// To and Text are the recipient and the message text of a send ("" otherwise).
	To, Text string
	// Status is what the fake answered (0 for a dropped connection).
	Status int
	// Accepted is true when the platform accepted the request (a Slack ok:false answer is
	// HTTP 200 but not accepted).
	Accepted bool
	// Replayed is true for a Resend request answered from its idempotency key.
	Replayed bool
	Time     time.Time
}

// Fault is a programmed failure. Zero fields take the platform's usual values.
type Fault struct {
	// Op limits the fault to one API method ("" = any request of the platform).
	Op string
	// Skip lets this many matching requests through (answered normally) before the fault
	// starts, e.g. Skip 1 fails the second part of a split message.
	Skip int
	// Times is how many requests it answers (0 = 1; -1 = every request from now on).
	Times int
	// Status is the HTTP status. Slack: 200 with Code answers {"ok":false,"error":Code}.
	Status int
	// Code is the platform's error code: Graph's numeric code ("131047", or "100/33" with
	// a subcode), Telegram's description is Message, Slack's error name, Twilio's numeric
	// code, Resend's error name.
	Code string
	// Message is the platform's description.
	Message string
	// RetryAfter is sent as the Retry-After header (seconds or an HTTP date); Telegram also
	// gets it as parameters.retry_after when it is a number.
	RetryAfter string
	// Hang holds the request until the client gives up (or the test ends).
	Hang bool
	// Disconnect closes the connection without an answer.
	Disconnect bool
}

// Webhook is a bot's webhook as set with setWebhook.
type Webhook struct {
	URL                string
	SecretToken        string
	AllowedUpdates     []string
	DropPendingUpdates bool
}

type fault struct {
	platform string
	Fault
	left int // < 0: forever
	skip int
}

type idemEntry struct {
	sum [32]byte
	id  string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	done chan struct{}

	mu       sync.Mutex
	creds    Creds
	requests []Request
	faults   []*fault
	seq      int
	webhooks map[string]Webhook
	idem     map[string]idemEntry
}

// New starts a fake with DefaultCreds; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		done: make(chan struct{}), creds: DefaultCreds(),
		webhooks: map[string]Webhook{}, idem: map[string]idemEntry{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(func() {
		close(s.done) // releases hanging requests so Close does not wait on them
		s.srv.Close()
	})
	return s
}

// URL is the server's root ("http://127.0.0.1:port").
func (s *Server) URL() string { return s.srv.URL }

// GraphBase is the Graph API root with its version, for WhatsApp and Messenger.
func (s *Server) GraphBase() string { return s.srv.URL + "/v21.0" }

// TelegramBase is the Bot API root.
func (s *Server) TelegramBase() string { return s.srv.URL }

// SlackBase is the Slack Web API root (…/api).
func (s *Server) SlackBase() string { return s.srv.URL + "/api" }

// TwilioBase is the Twilio REST root.
func (s *Server) TwilioBase() string { return s.srv.URL }

// ResendBase is the Resend API root.
func (s *Server) ResendBase() string { return s.srv.URL }

// Creds returns the credentials the fake accepts.
func (s *Server) Creds() Creds {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds
}

// SetCreds replaces the credentials the fake accepts.
func (s *Server) SetCreds(c Creds) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds = c
}

// ChannelCreds returns the accepted credentials of a channel type keyed as SPEC §5 keys
// them (WHATSAPP, MESSENGER, TELEGRAM, SLACK, SMS, VOICE), or nil for another type.
func (s *Server) ChannelCreds(channelType string) map[string]string {
	c := s.Creds()
	switch channelType {
	case "WHATSAPP":
		return map[string]string{"phoneNumberId": c.PhoneNumberID, "accessToken": c.WhatsAppToken, "appSecret": c.AppSecret, "verifyToken": c.VerifyToken}
	case "MESSENGER":
		return map[string]string{"pageId": c.PageID, "pageAccessToken": c.PageAccessToken, "appSecret": c.AppSecret, "verifyToken": c.VerifyToken}
	case "TELEGRAM":
		return map[string]string{"botToken": c.BotToken}
	case "SLACK":
		return map[string]string{"botToken": c.SlackBotToken, "signingSecret": c.SlackSigningSecret}
	case "SMS", "VOICE":
		return map[string]string{"accountSid": c.AccountSID, "authToken": c.AuthToken, "fromNumber": c.FromNumber}
	}
	return nil
}

// Fail programs a fault for a platform's next requests. Faults queue in order: the first
// one matching a request answers it until its Times are used.
func (s *Server) Fail(platform string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := f.Times
	if left == 0 {
		left = 1
	}
	s.faults = append(s.faults, &fault{platform: platform, Fault: f, left: left, skip: f.Skip})
}

// ClearFaults drops every fault not yet used.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns every request of a platform ("" = all), in arrival order, including
// those refused or answered with a fault.
func (s *Server) Requests(platform string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if platform == "" || r.Platform == platform {
			out = append(out, r)
		}
	}
	return out
}

// sendOps are the operations that deliver a message.
var sendOps = map[string]bool{"messages": true, "sendMessage": true, "chat.postMessage": true, "Messages.json": true, "emails": true}

// Sent returns the messages a platform accepted (Resend replays excluded),
// in order.
func (s *Server) Sent(platform string) []Request {
	var out []Request
	for _, r := range s.Requests(platform) {
		if sendOps[r.Op] && r.Accepted && !r.Replayed {
			out = append(out, r)
		}
	}
	return out
}

// Texts returns the texts of Sent(platform).
func (s *Server) Texts(platform string) []string {
	var out []string
	for _, r := range s.Sent(platform) {
		out = append(out, r.Text)
	}
	return out
}

// TelegramWebhook returns the webhook set for a bot token.
func (s *Server) TelegramWebhook(botToken string) (Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.webhooks[botToken]
	return w, ok
}

var (
	graphPathRe    = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/([^/]+)/messages$`)
	telegramPathRe = regexp.MustCompile(`^/bot([^/]*)/([A-Za-z]+)$`)
	twilioPathRe   = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
)

// exchange is one request being answered.
type exchange struct {
	w   http.ResponseWriter
	r   *http.Request
	rec Request
	// id is the path parameter: the Graph object, the Telegram token, the Twilio SID.
	id string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	x := &exchange{w: w, r: r, rec: Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(),
		Raw: raw, Time: time.Now(),
	}}
	x.rec.Body = decodeBody(r.Header.Get("Content-Type"), raw)
	path := r.URL.Path
	switch {
	case graphPathRe.MatchString(path):
		x.id = graphPathRe.FindStringSubmatch(path)[1]
		x.rec.Platform, x.rec.Op = WhatsApp, "messages"
		if x.id == "me" {
			x.rec.Platform = Messenger
		}
	case telegramPathRe.MatchString(path):
		m := telegramPathRe.FindStringSubmatch(path)
		x.id, x.rec.Platform, x.rec.Op = m[1], Telegram, m[2]
	case strings.HasPrefix(path, "/api/"):
		x.rec.Platform, x.rec.Op = Slack, strings.TrimPrefix(path, "/api/")
	case twilioPathRe.MatchString(path):
		x.id = twilioPathRe.FindStringSubmatch(path)[1]
		x.rec.Platform, x.rec.Op = Twilio, "Messages.json"
	case path == "/emails":
		x.rec.Platform, x.rec.Op = Resend, "emails"
	}
	x.rec.To, x.rec.Text = recipientAndText(x.rec.Platform, x.rec.Body)
	if x.rec.Platform == "" || r.Method != http.MethodPost {
		s.answer(x, http.StatusNotFound, nil, map[string]any{"error": "not found"})
		return
	}
	if f := s.takeFault(x.rec.Platform, x.rec.Op); f != nil {
		s.fault(x, f)
		return
	}
	switch x.rec.Platform {
	case WhatsApp, Messenger:
		s.graph(x)
	case Telegram:
		s.telegram(x)
	case Slack:
		s.slack(x)
	case Twilio:
		s.twilio(x)
	case Resend:
		s.resend(x)
	}
}

func decodeBody(contentType string, raw []byte) map[string]any {
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil
		}
		m := make(map[string]any, len(v))
		for k := range v {
			m[k] = v.Get(k)
		}
		return m
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// str returns the string at a dotted path of a decoded body ("" when absent). Numbers are
// formatted as JSON has them.
func str(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func recipientAndText(platform string, b map[string]any) (to, text string) {
	switch platform {
	case WhatsApp:
		return str(b, "to"), str(b, "text.body")
	case Messenger:
		return str(b, "recipient.id"), str(b, "message.text")
	case Telegram:
		return str(b, "chat_id"), str(b, "text")
	case Slack:
		return str(b, "channel"), str(b, "text")
	case Twilio:
		return str(b, "To"), str(b, "Body")
	case Resend:
		if l, ok := b["to"].([]any); ok && len(l) > 0 {
			to, _ = l[0].(string)
		} else {
			to = str(b, "to")
		}
		return to, str(b, "text")
	}
	return "", ""
}

func (s *Server) takeFault(platform, op string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.platform != platform || (f.Op != "" && f.Op != op) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			return nil
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		ff := f.Fault
		return &ff
	}
	return nil
}

func (s *Server) nextID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// accept writes a success answer and records the request as accepted.
func (s *Server) accept(x *exchange, status int, body any) {
	x.rec.Accepted = true
	s.answer(x, status, nil, body)
}

// answer writes a JSON answer and records the request.
func (s *Server) answer(x *exchange, status int, header http.Header, body any) {
	for k, v := range header {
		x.w.Header()[k] = v
	}
	x.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	x.w.WriteHeader(status)
	_ = json.NewEncoder(x.w).Encode(body)
	x.rec.Status = status
	s.record(x.rec)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// fault answers x with a programmed failure in the platform's error format.
func (s *Server) fault(x *exchange, f *Fault) {
	if f.Hang {
		select {
		case <-x.r.Context().Done():
		case <-s.done:
		}
		s.record(x.rec)
		return
	}
	if f.Disconnect {
		s.record(x.rec)
		if hj, ok := x.w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	h := http.Header{}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	switch x.rec.Platform {
	case WhatsApp, Messenger:
		code, sub := graphDefaultCode(status), 0
		if f.Code != "" {
			c, sc, _ := strings.Cut(f.Code, "/")
			code, _ = strconv.Atoi(c)
			sub, _ = strconv.Atoi(sc)
		}
		s.answer(x, status, h, graphErr(code, sub, msg, status >= 500))
	case Telegram:
		body := map[string]any{"ok": false, "error_code": status, "description": msg}
		if n, err := strconv.Atoi(f.RetryAfter); err == nil {
			body["parameters"] = map[string]any{"retry_after": n}
			if f.Message == "" {
				body["description"] = "Too Many Requests: retry after " + f.RetryAfter
			}
		}
		s.answer(x, status, h, body)
	case Slack:
		code := f.Code
		if code == "" {
			code = map[bool]string{true: "ratelimited", false: "fatal_error"}[status == http.StatusTooManyRequests]
		}
		s.answer(x, status, h, map[string]any{"ok": false, "error": code})
	case Twilio:
		code := map[int]int{400: 21211, 401: 20003, 404: 20404, 429: 20429}[status]
		if status >= 500 {
			code = 20500
		}
		if f.Code != "" {
			code, _ = strconv.Atoi(f.Code)
		}
		s.answer(x, status, h, twilioErr(code, msg, status))
	case Resend:
		name := f.Code
		if name == "" {
			name = map[int]string{400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key", 409: "concurrent_idempotent_requests", 422: "validation_error", 429: "rate_limit_exceeded"}[status]
			if name == "" {
				name = "internal_server_error"
			}
		}
		s.answer(x, status, h, resendErr(status, name, msg))
	}
}

func graphDefaultCode(status int) int {
	switch {
	case status == http.StatusUnauthorized:
		return 190
	case status == http.StatusForbidden:
		return 200
	case status == http.StatusTooManyRequests:
		return 4
	case status >= 500:
		return 2
	}
	return 100
}

func graphErr(code, subcode int, msg string, transient bool) map[string]any {
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AFakeTraceID"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	if transient {
		e["is_transient"] = true
	}
	return map[string]any{"error": e}
}

func twilioErr(code int, msg string, status int) map[string]any {
	return map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status}
}

func resendErr(status int, name, msg string) map[string]any {
	return map[string]any{"statusCode": status, "name": name, "message": msg}
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return v[7:]
	}
	return ""
}

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

func (s *Server) graph(x *exchange) {
	c := s.Creds()
	token := bearer(x.r)
	if token == "" {
		token = x.r.URL.Query().Get("access_token")
	}
	want := c.WhatsAppToken
	if x.rec.Platform == Messenger {
		want = c.PageAccessToken
	}
	if token == "" {
		s.answer(x, http.StatusBadRequest, nil, graphErr(2500, 0, "An active access token must be used to query information about the current user.", false))
		return
	}
	if token != want {
		s.answer(x, http.StatusUnauthorized, nil, graphErr(190, 0, "Invalid OAuth access token - Cannot parse access token", false))
		return
	}
	b := x.rec.Body
	bad := func(msg string) { s.answer(x, http.StatusBadRequest, nil, graphErr(100, 0, msg, false)) }
	if x.rec.Platform == WhatsApp {
		switch {
		case x.id != c.PhoneNumberID:
			s.answer(x, http.StatusBadRequest, nil, graphErr(100, 33, "Unsupported post request. Object with ID '"+x.id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", false))
		case b == nil:
			bad("Invalid parameter")
		case str(b, "messaging_product") != "whatsapp":
			bad("(#100) The parameter messaging_product is required.")
		case x.rec.To == "":
			bad("(#100) The parameter to is required.")
		case str(b, "type") != "text" || x.rec.Text == "":
			bad("(#100) The parameter text['body'] is required.")
		case utf16Len(x.rec.Text) > 4096:
			bad("(#100) Param text['body'] must be at most 4096 characters long.")
		default:
			n := s.nextID()
			s.accept(x, http.StatusOK, map[string]any{
				"messaging_product": "whatsapp",
				"contacts":          []any{map[string]any{"input": x.rec.To, "wa_id": x.rec.To}},
				"messages":          []any{map[string]any{"id": fmt.Sprintf("wamid.FAKE%08d", n)}},
			})
		}
		return
	}
	switch {
	case b == nil:
		bad("Invalid parameter")
	case x.rec.To == "":
		bad("(#100) The parameter recipient is required")
	case str(b, "messaging_type") == "":
		bad("(#100) The parameter messaging_type is required")
	case x.rec.Text == "":
		bad("(#100) The parameter message is required")
	case utf16Len(x.rec.Text) > 2000:
		bad("(#100) Length of param message[text] must be less than or equal to 2000")
	default:
		n := s.nextID()
		s.accept(x, http.StatusOK, map[string]any{"recipient_id": x.rec.To, "message_id": fmt.Sprintf("m_FAKE%08d", n)})
	}
}

var telegramSecretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) telegram(x *exchange) {
	c := s.Creds()
	tgErr := func(status int, desc string) {
		s.answer(x, status, nil, map[string]any{"ok": false, "error_code": status, "description": desc})
	}
	if x.id != c.BotToken {
		tgErr(http.StatusUnauthorized, "Unauthorized")
		return
	}
	b := x.rec.Body
	if b == nil && len(x.rec.Raw) > 0 {
		tgErr(http.StatusBadRequest, "Bad Request: invalid JSON")
		return
	}
	switch x.rec.Op {
	case "sendMessage":
		switch {
		case x.rec.To == "":
			tgErr(http.StatusBadRequest, "Bad Request: chat_id is empty")
		case strings.TrimSpace(x.rec.Text) == "":
			tgErr(http.StatusBadRequest, "Bad Request: message text is empty")
		case utf16Len(x.rec.Text) > 4096:
			tgErr(http.StatusBadRequest, "Bad Request: message is too long")
		default:
			n := s.nextID()
			var chat any = x.rec.To
			if v, ok := b["chat_id"].(float64); ok {
				chat = v
			}
			s.accept(x, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{
				"message_id": n, "date": time.Now().Unix(), "text": x.rec.Text,
				"chat": map[string]any{"id": chat, "type": "private"},
			}})
		}
	case "setWebhook":
		u, err := url.Parse(str(b, "url"))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			tgErr(http.StatusBadRequest, "Bad Request: bad webhook: invalid webhook URL specified")
			return
		}
		secret := str(b, "secret_token")
		if _, present := b["secret_token"]; present && !telegramSecretRe.MatchString(secret) {
			tgErr(http.StatusBadRequest, "Bad Request: secret token contains unallowed characters")
			return
		}
		wh := Webhook{URL: u.String(), SecretToken: secret}
		if l, ok := b["allowed_updates"].([]any); ok {
			for _, v := range l {
				if s, ok := v.(string); ok {
					wh.AllowedUpdates = append(wh.AllowedUpdates, s)
				}
			}
		}
		wh.DropPendingUpdates, _ = b["drop_pending_updates"].(bool)
		s.mu.Lock()
		s.webhooks[x.id] = wh
		s.mu.Unlock()
		s.accept(x, http.StatusOK, map[string]any{"ok": true, "result": true, "description": "Webhook was set"})
	case "deleteWebhook":
		s.mu.Lock()
		_, had := s.webhooks[x.id]
		delete(s.webhooks, x.id)
		s.mu.Unlock()
		desc := "Webhook was deleted"
		if !had {
			desc = "Webhook is already deleted"
		}
		s.accept(x, http.StatusOK, map[string]any{"ok": true, "result": true, "description": desc})
	case "getWebhookInfo":
		wh, _ := s.TelegramWebhook(x.id)
		res := map[string]any{"url": wh.URL, "has_custom_certificate": false, "pending_update_count": 0}
		if wh.AllowedUpdates != nil {
			res["allowed_updates"] = wh.AllowedUpdates
		}
		s.accept(x, http.StatusOK, map[string]any{"ok": true, "result": res})
	case "getMe":
		id, _, _ := strings.Cut(x.id, ":")
		n, _ := strconv.ParseInt(id, 10, 64)
		s.accept(x, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{"id": n, "is_bot": true, "first_name": "Fake Bot", "username": "fake_bot"}})
	default:
		tgErr(http.StatusNotFound, "Not Found")
	}
}

func (s *Server) slack(x *exchange) {
	c := s.Creds()
	fail := func(code string) { s.answer(x, http.StatusOK, nil, map[string]any{"ok": false, "error": code}) }
	token := bearer(x.r)
	switch {
	case token == "":
		fail("not_authed")
		return
	case token != c.SlackBotToken:
		fail("invalid_auth")
		return
	case x.rec.Op != "chat.postMessage":
		s.answer(x, http.StatusNotFound, nil, map[string]any{"ok": false, "error": "unknown_method"})
		return
	}
	switch {
	case x.rec.Body == nil:
		fail("invalid_json")
	case x.rec.To == "":
		fail("channel_not_found")
	case strings.TrimSpace(x.rec.Text) == "":
		fail("no_text")
	case utf16Len(x.rec.Text) > 40000:
		fail("msg_too_long")
	default:
		n := s.nextID()
		ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), n)
		msg := map[string]any{"type": "message", "text": x.rec.Text, "ts": ts}
		if th := str(x.rec.Body, "thread_ts"); th != "" {
			msg["thread_ts"] = th
		}
		s.accept(x, http.StatusOK, map[string]any{"ok": true, "channel": x.rec.To, "ts": ts, "message": msg})
	}
}

func (s *Server) twilio(x *exchange) {
	c := s.Creds()
	user, pass, ok := x.r.BasicAuth()
	if !ok || user != c.AccountSID || pass != c.AuthToken || x.id != c.AccountSID {
		x.w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		s.answer(x, http.StatusUnauthorized, nil, twilioErr(20003, "Authenticate", http.StatusUnauthorized))
		return
	}
	if !strings.HasPrefix(x.r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.answer(x, http.StatusBadRequest, nil, twilioErr(21602, "Message body is required.", http.StatusBadRequest))
		return
	}
	b := x.rec.Body
	bad := func(code int, msg string) {
		s.answer(x, http.StatusBadRequest, nil, twilioErr(code, msg, http.StatusBadRequest))
	}
	switch {
	case x.rec.To == "":
		bad(21604, "A 'To' phone number is required.")
	case str(b, "From") == "":
		bad(21603, "A 'From' phone number is required.")
	case x.rec.Text == "":
		bad(21602, "Message body is required.")
	case utf8.RuneCountInString(x.rec.Text) > 1600:
		bad(21617, "The concatenated message body exceeds the 1600 character limit.")
	default:
		n := s.nextID()
		s.accept(x, http.StatusCreated, map[string]any{
			"sid": fmt.Sprintf("SM%032x", n), "account_sid": c.AccountSID, "to": x.rec.To,
			"from": str(b, "From"), "body": x.rec.Text, "status": "queued", "direction": "outbound-api",
			"api_version": "2010-04-01", "error_code": nil, "error_message": nil,
		})
	}
}

func (s *Server) resend(x *exchange) {
	c := s.Creds()
	token := bearer(x.r)
	switch {
	case token == "":
		s.answer(x, http.StatusUnauthorized, nil, resendErr(401, "missing_api_key", "Missing API key in the authorization header"))
		return
	case token != c.ResendAPIKey:
		s.answer(x, http.StatusForbidden, nil, resendErr(403, "invalid_api_key", "API key is invalid"))
		return
	}
	b := x.rec.Body
	missing := func(f string) {
		s.answer(x, 422, nil, resendErr(422, "missing_required_field", "Missing `"+f+"` field."))
	}
	switch {
	case b == nil:
		s.answer(x, 422, nil, resendErr(422, "validation_error", "Invalid JSON"))
		return
	case str(b, "from") == "":
		missing("from")
		return
	case x.rec.To == "":
		missing("to")
		return
	case str(b, "subject") == "":
		missing("subject")
		return
	case x.rec.Text == "" && str(b, "html") == "":
		s.answer(x, 422, nil, resendErr(422, "validation_error", "Missing `html` or `text` field."))
		return
	}
	key := x.r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		s.answer(x, http.StatusBadRequest, nil, resendErr(400, "invalid_idempotency_key", "The key must be between 1-256 chars."))
		return
	}
	sum := sha256.Sum256(x.rec.Raw)
	s.mu.Lock()
	prev, seen := s.idem[key]
	id := prev.id
	if !seen {
		s.seq++
		id = fmt.Sprintf("00000000-fake-4000-8000-%012d", s.seq)
		if key != "" {
			s.idem[key] = idemEntry{sum: sum, id: id}
		}
	}
	s.mu.Unlock()
	if key != "" && seen && prev.sum != sum {
		s.answer(x, http.StatusConflict, nil, resendErr(409, "invalid_idempotent_request", "Same idempotency key used with a different request payload. Change your idempotency key or payload."))
		return
	}
	x.rec.Replayed = key != "" && seen
	s.accept(x, http.StatusOK, map[string]any{"id": id})
}
