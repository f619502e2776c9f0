package channels

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/testkit/apitest"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// The platforms' webhooks through the real HTTP stack, with the fake platforms receiving
// the replies. Jobs are run by calling the service (no River worker, so these tests run in
// parallel); the worker paths are covered by TestWebhookToReplyThroughWorker.

const testAPIBase = "http://api.axon.test"

type hookEnv struct {
	*coreEnv
	fake *fakeplatforms.Server
}

func newHookEnv(t testing.TB) *hookEnv {
	t.Helper()
	fake := fakeplatforms.New(t)
	return &hookEnv{coreEnv: newCoreEnv(t, coreOptions{platforms: fake, apiBase: testAPIBase}), fake: fake}
}

// channel configures and activates the workspace's channel of type typ with the fake's
// credentials, links it to agent and returns its webhook path (with the query, for EMAIL).
func (he *hookEnv) channel(t testing.TB, w apitest.Workspace, agent, typ string) string {
	t.Helper()
	body := map[string]any{"isActive": true}
	if creds := he.fake.ChannelCreds(typ); creds != nil {
		body["credentials"] = creds
	} else if typ == "EMAIL" {
		body["credentials"] = map[string]string{"fromAddress": "support@shop.test"}
	}
	if res := he.Do(reqPut("/v1/channels/"+typ, w.Token, body)); res.Status != 200 {
		t.Fatalf("PUT channel %s: %d %s", typ, res.Status, res.Body)
	}
	res := he.Do(reqPut("/v1/agents/"+agent+"/channels/"+typ, w.Token, map[string]any{"isActive": true}))
	if res.Status != 200 {
		t.Fatalf("link %s: %d %s", typ, res.Status, res.Body)
	}
	u, _ := res.Map(t)["webhookUrl"].(string)
	if !strings.HasPrefix(u, testAPIBase+"/v1/webhooks/") {
		t.Fatalf("webhookUrl = %q", u)
	}
	return strings.TrimPrefix(u, testAPIBase)
}

func (he *hookEnv) post(path string, body []byte, header map[string]string) *apitest.Response {
	return he.Do(apitest.Req{Method: http.MethodPost, Path: path, Body: body, Header: header})
}

// signedWA posts a WhatsApp payload signed with the fake's app secret.
func (he *hookEnv) signedWA(path string, body []byte) *apitest.Response {
	return he.post(path, body, map[string]string{
		"Content-Type":        "application/json",
		"X-Hub-Signature-256": fakeplatforms.SignMeta(body, he.fake.Creds().AppSecret),
	})
}

// twilio posts a Twilio form to path, signed for the URL Twilio would call.
func (he *hookEnv) twilio(path string, form url.Values) *apitest.Response {
	return he.post(path, []byte(form.Encode()), map[string]string{
		"Content-Type":       "application/x-www-form-urlencoded",
		"X-Twilio-Signature": fakeplatforms.SignTwilio(testAPIBase+path, form, he.fake.Creds().AuthToken),
	})
}

// processAll runs the process_inbound jobs of the workspace, then its send_message jobs,
// like a worker would (twice each: a re-run must be a no-op).
func (he *hookEnv) processAll(t *testing.T, ws string) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	if err := he.DB.SelectContext(ctx, &ids, `SELECT id FROM channel_inbound WHERE workspace_id = $1 ORDER BY received_at`, ws); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, id := range ids {
			if err := he.mod.svc.ProcessInbound(ctx, ws, id); err != nil {
				t.Fatalf("ProcessInbound: %v", err)
			}
		}
	}
	var msgs []string
	if err := he.DB.SelectContext(ctx, &msgs, `SELECT args->>'messageId' FROM river_job WHERE kind = 'channels.send_message' AND args->>'workspaceId' = $1 ORDER BY id`, ws); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, id := range msgs {
			if err := he.mod.svc.deliver(ctx, ws, id, false); err != nil {
				t.Fatalf("deliver: %v", err)
			}
		}
	}
}

// telegramHook is the webhook the channel set on the fake Telegram.
func (he *hookEnv) telegramHook(t *testing.T) fakeplatforms.Webhook {
	t.Helper()
	h, ok := he.fake.TelegramWebhook(he.fake.Creds().BotToken)
	if !ok {
		t.Fatal("no Telegram webhook set")
	}
	return h
}

func waText(msgID, from, text string) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
"contacts":[{"profile":{"name":"Sheena"},"wa_id":%q}],
"messages":[{"from":%q,"id":%q,"timestamp":"1749416383","type":"text","text":{"body":%q}}]}}]}]}`, from, from, msgID, text)
}

// A signed WhatsApp message delivered three times is stored once, answered once and the
// answer reaches WhatsApp once.
func TestWhatsAppRedeliveryGetsOneReply(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	path := he.channel(t, w, ag, "WHATSAPP")

	body := waText("wamid.ONE", "16505551234", "Do you ship to Canada?")
	for i := range 3 {
		res := he.signedWA(path, body)
		if res.Status != 200 {
			t.Fatalf("delivery %d: %d %s", i, res.Status, res.Body)
		}
		if want := map[bool]float64{true: 1, false: 0}[i == 0]; res.Map(t)["accepted"] != want {
			t.Fatalf("delivery %d accepted = %v, want %v", i, res.Map(t)["accepted"], want)
		}
	}
	if n := he.count(t, `SELECT count(*) FROM river_job WHERE kind = 'channels.process_inbound' AND args->>'workspaceId' = $1`, w.ID); n != 1 {
		t.Fatalf("process_inbound jobs = %d, want 1", n)
	}
	he.processAll(t, w.ID)

	if n := he.count(t, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND role = 'ASSISTANT'`, w.ID); n != 1 {
		t.Fatalf("replies = %d, want 1", n)
	}
	sent := he.fake.Sent(fakeplatforms.WhatsApp)
	if len(sent) != 1 || sent[0].To != "+16505551234" || sent[0].Text != "Answer to: Do you ship to Canada?" {
		t.Fatalf("WhatsApp received %+v", sent)
	}
	if st := he.str(t, `SELECT delivery_status FROM messages WHERE workspace_id = $1 AND role = 'ASSISTANT'`, w.ID); st != deliverySent {
		t.Fatalf("delivery_status = %s", st)
	}
	conv := he.str(t, `SELECT customer_name FROM conversations WHERE workspace_id = $1 AND channel_type = 'WHATSAPP'`, w.ID)
	if conv != "Sheena" {
		t.Fatalf("customer name = %q", conv)
	}
}

// Every refusal stores nothing: wrong, missing or stale signatures (401), unknown slugs and
// inactive channels (404), malformed bodies (400), huge bodies (413).
func TestWebhookRefusalsStoreNothing(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	wa := he.channel(t, w, ag, "WHATSAPP")
	tg := he.channel(t, w, ag, "TELEGRAM")
	sl := he.channel(t, w, ag, "SLACK")
	sms := he.channel(t, w, ag, "SMS")
	em := he.channel(t, w, ag, "EMAIL")
	secret := he.fake.Creds().AppSecret
	good := waText("wamid.X", "16505551234", "hello")
	tgBody := []byte(`{"update_id":1,"message":{"message_id":5,"from":{"id":42,"first_name":"Ann"},"chat":{"id":42,"type":"private"},"date":1700000000,"text":"hi"}}`)
	slBody := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"D1","user":"U1","text":"hi","ts":"1700000000.000100"}}`)
	stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	smsForm := url.Values{"MessageSid": {"SM1"}, "From": {"+15557654321"}, "To": {"+15550001111"}, "Body": {"hi"}}
	emBase, _, _ := strings.Cut(em, "?")

	cases := []struct {
		name   string
		path   string
		body   []byte
		header map[string]string
		status int
		code   string
	}{
		{"tampered body", wa, append([]byte(nil), good...), map[string]string{"X-Hub-Signature-256": fakeplatforms.SignMeta(waText("wamid.X", "16505551234", "hellO"), secret)}, 401, "INVALID_SIGNATURE"},
		{"wrong secret", wa, good, map[string]string{"X-Hub-Signature-256": fakeplatforms.SignMeta(good, "not-the-secret")}, 401, "INVALID_SIGNATURE"},
		{"missing signature", wa, good, nil, 401, "INVALID_SIGNATURE"},
		{"malformed JSON, signed", wa, []byte(`{"entry":[`), map[string]string{"X-Hub-Signature-256": fakeplatforms.SignMeta([]byte(`{"entry":[`), secret)}, 400, "VALIDATION_ERROR"},
		{"huge body", wa, make([]byte, webhookBodyLimit+1), nil, 413, "PAYLOAD_TOO_LARGE"},
		{"unknown slug", "/v1/webhooks/0123456789abcdef0123456789abcdef/whatsapp", good, map[string]string{"X-Hub-Signature-256": fakeplatforms.SignMeta(good, secret)}, 404, "NOT_FOUND"},
		{"not a slug", "/v1/webhooks/..%2f..%2fetc/whatsapp", good, nil, 404, "NOT_FOUND"},
		{"slug of another type", strings.Replace(tg, "/telegram", "/whatsapp", 1), good, map[string]string{"X-Hub-Signature-256": fakeplatforms.SignMeta(good, secret)}, 404, "NOT_FOUND"},
		{"telegram wrong secret", tg, tgBody, map[string]string{"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 401, "INVALID_SIGNATURE"},
		{"telegram no secret", tg, tgBody, nil, 401, "INVALID_SIGNATURE"},
		{"slack stale timestamp", sl, slBody, map[string]string{"X-Slack-Request-Timestamp": stale, "X-Slack-Signature": fakeplatforms.SignSlack(slBody, stale, he.fake.Creds().SlackSigningSecret)}, 401, "INVALID_SIGNATURE"},
		{"sms signed for another URL", sms, []byte(smsForm.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": fakeplatforms.SignTwilio("http://evil.test"+sms, smsForm, he.fake.Creds().AuthToken)}, 401, "INVALID_SIGNATURE"},
		{"email wrong key", emBase + "?key=nope", []byte(`{"from":"a@b.test","subject":"s","text":"hi"}`), map[string]string{"Content-Type": "application/json"}, 401, "INVALID_SIGNATURE"},
		{"email no key", emBase, []byte(`{"from":"a@b.test","subject":"s","text":"hi"}`), map[string]string{"Content-Type": "application/json"}, 401, "INVALID_SIGNATURE"},
	}
	for _, tc := range cases {
		res := he.post(tc.path, tc.body, tc.header)
		if res.Status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, res.Status, tc.status, res.Body)
			continue
		}
		res.ExpectError(t, tc.status, tc.code)
	}
	// Deactivated: 404.
	if res := he.Do(reqPut("/v1/channels/WHATSAPP", w.Token, map[string]any{"isActive": false})); res.Status != 200 {
		t.Fatalf("deactivate: %d %s", res.Status, res.Body)
	}
	if res := he.signedWA(wa, good); res.Status != 404 {
		t.Errorf("inactive channel: %d %s", res.Status, res.Body)
	}
	if n := he.count(t, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, w.ID); n != 0 {
		t.Fatalf("%d inbound rows stored by refused webhooks", n)
	}
	if n := he.count(t, `SELECT count(*) FROM river_job WHERE kind = 'channels.process_inbound' AND args->>'workspaceId' = $1`, w.ID); n != 0 {
		t.Fatalf("%d jobs enqueued by refused webhooks", n)
	}
}

// Payloads that are not messages are acknowledged and ignored; the subscription checks
// are answered.
func TestWebhookNonMessagesAndChallenges(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	wa := he.channel(t, w, ag, "WHATSAPP")
	sl := he.channel(t, w, ag, "SLACK")
	tg := he.channel(t, w, ag, "TELEGRAM")
	tgSecret := he.telegramHook(t).SecretToken

	statuses := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},"statuses":[{"id":"wamid.S","status":"delivered","timestamp":"1","recipient_id":"16505551234"}]}}]}]}`)
	if res := he.signedWA(wa, statuses); res.Status != 200 || res.Map(t)["accepted"] != float64(0) {
		t.Fatalf("statuses: %d %s", res.Status, res.Body)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	verify := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	res := he.post(sl, verify, map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": fakeplatforms.SignSlack(verify, ts, he.fake.Creds().SlackSigningSecret)})
	if res.Status != 200 || res.Map(t)["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification: %d %s", res.Status, res.Body)
	}
	edited := []byte(`{"update_id":2,"edited_message":{"message_id":5,"chat":{"id":42,"type":"private"},"date":1,"edit_date":2,"text":"hi!"}}`)
	if res := he.post(tg, edited, map[string]string{"X-Telegram-Bot-Api-Secret-Token": tgSecret}); res.Status != 200 || res.Map(t)["accepted"] != float64(0) {
		t.Fatalf("edited_message: %d %s", res.Status, res.Body)
	}
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {he.fake.Creds().VerifyToken}, "hub.challenge": {"1158201444"}}
	if res := he.Get(wa+"?"+q.Encode(), ""); res.Status != 200 || string(res.Body) != "1158201444" {
		t.Fatalf("challenge: %d %s", res.Status, res.Body)
	}
	q.Set("hub.verify_token", "wrong")
	he.Get(wa+"?"+q.Encode(), "").ExpectError(t, 401, "INVALID_SIGNATURE")
	if n := he.count(t, `SELECT count(*) FROM channel_inbound WHERE workspace_id = $1`, w.ID); n != 0 {
		t.Fatalf("%d inbound rows from non-messages", n)
	}
}

// Telegram: activation sets the webhook with a secret and message updates only; a message
// with that secret is answered in the chat; deactivation deletes the webhook.
func TestTelegramActivationAndReply(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	tg := he.channel(t, w, ag, "TELEGRAM")
	hook := he.telegramHook(t)
	if hook.URL != testAPIBase+tg || len(hook.SecretToken) < 32 || len(hook.AllowedUpdates) != 1 || hook.AllowedUpdates[0] != "message" {
		t.Fatalf("setWebhook = %+v (path %s)", hook, tg)
	}
	body := []byte(`{"update_id":7,"message":{"message_id":9,"from":{"id":4242,"first_name":"Ann","last_name":"Lee"},"chat":{"id":4242,"type":"private"},"date":1700000000,"text":"Where is my parcel?"}}`)
	if res := he.post(tg, body, map[string]string{"X-Telegram-Bot-Api-Secret-Token": hook.SecretToken}); res.Status != 200 {
		t.Fatalf("telegram: %d %s", res.Status, res.Body)
	}
	he.processAll(t, w.ID)
	sent := he.fake.Sent(fakeplatforms.Telegram)
	if len(sent) != 1 || sent[0].To != "4242" || sent[0].Text != "Answer to: Where is my parcel?" {
		t.Fatalf("Telegram received %+v", sent)
	}
	// Opening the bot ("/start") is a greeting.
	start := []byte(`{"update_id":8,"message":{"message_id":10,"from":{"id":4242,"first_name":"Ann"},"chat":{"id":4242,"type":"private"},"date":1700000001,"text":"/start"}}`)
	if res := he.post(tg, start, map[string]string{"X-Telegram-Bot-Api-Secret-Token": hook.SecretToken}); res.Status != 200 {
		t.Fatalf("telegram /start: %d %s", res.Status, res.Body)
	}
	he.processAll(t, w.ID)
	if texts := he.fake.Texts(fakeplatforms.Telegram); len(texts) != 2 || texts[1] != "Answer to: Hello!" {
		t.Fatalf("Telegram texts %q", texts)
	}
	if res := he.Do(reqPut("/v1/channels/TELEGRAM", w.Token, map[string]any{"isActive": false})); res.Status != 200 {
		t.Fatalf("deactivate: %d %s", res.Status, res.Body)
	}
	if _, ok := he.fake.TelegramWebhook(he.fake.Creds().BotToken); ok {
		t.Fatal("webhook still set after deactivation")
	}
}

// SMS: Twilio gets an empty TwiML answer and the reply through the Messages API.
func TestSMSWebhookRepliesThroughMessagesAPI(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	sms := he.channel(t, w, ag, "SMS")
	res := he.twilio(sms, url.Values{"MessageSid": {"SM0001"}, "AccountSid": {he.fake.Creds().AccountSID}, "From": {"+15557654321"}, "To": {"+15550001111"}, "Body": {"Opening hours?"}})
	if res.Status != 200 || !strings.Contains(string(res.Body), "<Response") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("sms: %d %s %s", res.Status, res.Header.Get("Content-Type"), res.Body)
	}
	he.processAll(t, w.ID)
	sent := he.fake.Sent(fakeplatforms.Twilio)
	if len(sent) != 1 || sent[0].To != "+15557654321" || sent[0].Text != "Answer to: Opening hours?" {
		t.Fatalf("Twilio received %+v", sent)
	}
}

// E-mail: the reply goes out through Resend from the channel's address, threaded.
func TestEmailWebhookRepliesThreaded(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	em := he.channel(t, w, ag, "EMAIL")
	body := []byte(`{"from":"Ann Lee <Ann@Customer.test>","to":"support@shop.test","subject":"Refund","text":"Can I get a refund?\n\nOn Mon, Bob wrote:\n> old","messageId":"<abc@customer.test>"}`)
	if res := he.post(em, body, map[string]string{"Content-Type": "application/json"}); res.Status != 200 || res.Map(t)["accepted"] != float64(1) {
		t.Fatalf("email: %d %s", res.Status, res.Body)
	}
	he.processAll(t, w.ID)
	sent := he.fake.Sent(fakeplatforms.Resend)
	if len(sent) != 1 || sent[0].To != "ann@customer.test" || !strings.Contains(sent[0].Text, "Can I get a refund?") {
		t.Fatalf("Resend received %+v", sent)
	}
	if got := sent[0].Header.Get("Idempotency-Key"); got == "" {
		t.Error("no Idempotency-Key on the Resend call")
	}
}

// Voice: the call starts with a greeting and a <Gather>; a turn is answered inline and
// gathers again; empty speech is asked again; the started minute is charged once.
func TestVoiceLoop(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	voice := he.channel(t, w, ag, "VOICE")
	before := he.balance(t, w.ID)
	call := url.Values{"CallSid": {"CA0001"}, "AccountSid": {he.fake.Creds().AccountSID}, "From": {"+15557654321"}, "To": {"+15550001111"}, "CallStatus": {"ringing"}}
	res := he.twilio(voice, call)
	if res.Status != 200 || !strings.Contains(string(res.Body), `<Gather input="speech"`) || !strings.Contains(string(res.Body), testAPIBase+voice+"/turn") {
		t.Fatalf("call start: %d %s", res.Status, res.Body)
	}
	turn := url.Values{"CallSid": {"CA0001"}, "AccountSid": {he.fake.Creds().AccountSID}, "From": {"+15557654321"}, "SpeechResult": {"What are your opening hours?"}, "Confidence": {"0.92"}}
	res = he.twilio(voice+"/turn", turn)
	if res.Status != 200 || !strings.Contains(string(res.Body), "Answer to: What are your opening hours?") || !strings.Contains(string(res.Body), "<Gather") {
		t.Fatalf("turn: %d %s", res.Status, res.Body)
	}
	turn.Set("SpeechResult", "")
	res = he.twilio(voice+"/turn", turn)
	if res.Status != 200 || !strings.Contains(string(res.Body), "catch that") {
		t.Fatalf("empty turn: %d %s", res.Status, res.Body)
	}
	// Silence again and again ends the call.
	for i := 2; i <= maxSilentTurns; i++ {
		res = he.twilio(voice+"/turn", turn)
	}
	if res.Status != 200 || !strings.Contains(string(res.Body), "<Hangup") {
		t.Fatalf("%d silent turns: %d %s", maxSilentTurns, res.Status, res.Body)
	}
	// One started minute (5 credits) and one reply (1 credit).
	if got := before - he.balance(t, w.ID); got != 6 {
		t.Fatalf("charged %d credits, want 6", got)
	}
	if n := he.count(t, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.workspace_id = $1 AND c.channel_type = 'VOICE'`, w.ID); n != 2 {
		t.Fatalf("voice messages = %d, want 2", n)
	}
}

// Outbound: a platform answering 500 four times gets the message on the fifth attempt; a
// 4xx fails it at once, visibly (delivery_status FAILED with the reason, and an event).
func TestOutboundRetriesAndPermanentFailure(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	he.channel(t, w, ag, "SMS")
	ctx := context.Background()

	in := Inbound{WorkspaceID: w.ID, AgentID: ag, ChannelType: "SMS", CustomerID: "+15557654321", Content: "first"}
	rep := he.respond(t, in)
	he.fake.Fail(fakeplatforms.Twilio, fakeplatforms.Fault{Status: 500, Times: 4})
	for attempt := 1; attempt <= sendAttempts; attempt++ {
		err := he.mod.svc.deliver(ctx, w.ID, rep.Message.ID, attempt == sendAttempts)
		if (err != nil) != (attempt < 5) {
			t.Fatalf("attempt %d: err = %v", attempt, err)
		}
		if err != nil && jobErr(err) != err {
			t.Fatalf("attempt %d: a 500 cancelled the job: %v", attempt, err)
		}
	}
	if st := he.str(t, `SELECT delivery_status FROM messages WHERE id = $1`, rep.Message.ID); st != deliverySent {
		t.Fatalf("after 4×500: %s", st)
	}
	if sent := he.fake.Sent(fakeplatforms.Twilio); len(sent) != 1 {
		t.Fatalf("Twilio accepted %d messages, want 1", len(sent))
	}

	in.Content = "second"
	in.ChannelMsgID = "2"
	rep = he.respond(t, in)
	he.fake.Fail(fakeplatforms.Twilio, fakeplatforms.Fault{Status: 400, Code: "21211", Message: "The 'To' number is not a valid phone number."})
	err := he.mod.svc.deliver(ctx, w.ID, rep.Message.ID, false)
	if jobErr(err) == err {
		t.Fatalf("a 400 was not permanent: %v", err)
	}
	if st := he.str(t, `SELECT delivery_status FROM messages WHERE id = $1`, rep.Message.ID); st != deliveryFailed {
		t.Fatalf("after a 400: %s", st)
	}
	if why := he.str(t, `SELECT metadata->>'deliveryError' FROM messages WHERE id = $1`, rep.Message.ID); !strings.Contains(why, "21211") || strings.Contains(why, he.fake.Creds().AuthToken) {
		t.Fatalf("deliveryError = %q", why)
	}
	if n := he.count(t, `SELECT count(*) FROM realtime_events WHERE workspace_id = $1 AND type = $2 AND payload->>'messageId' = $3`, w.ID, TypeDeliveryFailed, rep.Message.ID); n != 1 {
		t.Fatalf("%s events = %d", TypeDeliveryFailed, n)
	}
}

// A long Telegram reply is split; when a part fails, the retry resumes after the parts
// already delivered instead of sending them again.
func TestSplitReplyResumesAfterDeliveredParts(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	he.channel(t, w, ag, "TELEGRAM")
	long := strings.Repeat("All our bikes ship within two days. ", 300) // ~10,800 characters: 3 parts
	rep := he.respond(t, Inbound{WorkspaceID: w.ID, AgentID: ag, ChannelType: "TELEGRAM", CustomerID: "4242", Content: "x"})
	if _, err := he.DB.Exec(`UPDATE messages SET content = $2 WHERE id = $1`, rep.Message.ID, long); err != nil {
		t.Fatal(err)
	}
	he.fake.Fail(fakeplatforms.Telegram, fakeplatforms.Fault{Op: "sendMessage", Skip: 1, Status: 502})
	if err := he.mod.svc.deliver(context.Background(), w.ID, rep.Message.ID, false); err == nil {
		t.Fatal("the second part's 502 did not fail the attempt")
	}
	if err := he.mod.svc.deliver(context.Background(), w.ID, rep.Message.ID, false); err != nil {
		t.Fatalf("retry: %v", err)
	}
	texts := he.fake.Texts(fakeplatforms.Telegram)
	if len(texts) != 3 || strings.Join(texts, "") == "" {
		t.Fatalf("Telegram accepted %d parts, want 3", len(texts))
	}
	joined := strings.Join(texts, " ")
	if strings.Count(joined, "ship within two days") != 300 {
		t.Fatalf("parts hold %d sentences, want 300 (a part was sent twice or lost)", strings.Count(joined, "ship within two days"))
	}
}

// POST /v1/channels/:type/test sends through the platform; refusals are clear 4xx.
func TestTestChannel(t *testing.T) {
	t.Parallel()
	he := newHookEnv(t)
	w := he.NewWorkspace("STARTER", 50)
	ag := he.agent(t, w, nil)
	he.channel(t, w, ag, "WHATSAPP")
	res := he.Post("/v1/channels/whatsapp/test", w.Token, map[string]any{"to": "+15557654321"})
	if res.Status != 200 || res.Map(t)["delivered"] != true {
		t.Fatalf("test send: %d %s", res.Status, res.Body)
	}
	if sent := he.fake.Sent(fakeplatforms.WhatsApp); len(sent) != 1 || sent[0].To != "+15557654321" || !strings.Contains(sent[0].Text, "test message") {
		t.Fatalf("WhatsApp received %+v", sent)
	}
	he.Post("/v1/channels/whatsapp/test", w.Token, map[string]any{}).ExpectError(t, 400, "VALIDATION_ERROR")
	he.Post("/v1/channels/web/test", w.Token, map[string]any{"to": "x"}).ExpectError(t, 400, "VALIDATION_ERROR")
	he.Post("/v1/channels/sms/test", w.Token, map[string]any{"to": "+15557654321"}).ExpectError(t, 404, "NOT_FOUND")
	he.Post("/v1/channels/nope/test", w.Token, map[string]any{"to": "+15557654321"}).ExpectError(t, 404, "NOT_FOUND")
	he.fake.Fail(fakeplatforms.WhatsApp, fakeplatforms.Fault{Status: 401, Code: "190", Message: "Invalid OAuth access token."})
	he.Post("/v1/channels/whatsapp/test", w.Token, map[string]any{"to": "+15557654321"}).ExpectError(t, 400, "VALIDATION_ERROR")
	member := he.AddMember(w, authn.RoleMember)
	he.Post("/v1/channels/whatsapp/test", member.Token, map[string]any{"to": "+15557654321"}).ExpectError(t, 403, "FORBIDDEN")
}

// A platform id longer than the pipeline keeps is stored by its hash: still one row per
// message, and the message is answered.
func TestLongPlatformIDIsKeptByHash(t *testing.T) {
	t.Parallel()
	if got := dedupeKey(strings.Repeat("x", 255)); got != strings.Repeat("x", 255) {
		t.Fatalf("a 255-character id was changed: %q", got)
	}
	long := strings.Repeat("y", 256)
	if a, b := dedupeKey(long), dedupeKey(long+"z"); len(a) > 255 || a == b || a != dedupeKey(long) {
		t.Fatalf("dedupeKey: %q %q", a, b)
	}
}
