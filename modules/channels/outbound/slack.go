package outbound

import (
	"context"
	"encoding/json"
	"strings"
)

// slackEscaper escapes the three characters Slack reads as markup.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slack sends through the Web API: POST {base}/chat.postMessage {channel, text, thread_ts?}
// with the bot token as a Bearer token. &, < and > are escaped as Slack requires, so a
// reply cannot ping a channel (<!channel>) or a user, or forge a link; the escaped text is
// what is split (a cut inside an entity needs 40,000 characters without a space).
type slack struct {
	c    *client
	base string
}

func (s slack) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("slack", d, "botToken")
	if err != nil {
		return 0, err
	}
	u := s.base + "/chat.postMessage"
	raw := d.Text
	d.Text = slackEscaper.Replace(d.Text)
	return sendParts(ctx, "slack", Slack, d, func(ctx context.Context, part string, secrets []string) error {
		req := map[string]string{"channel": d.To, "text": part}
		if d.Thread != "" {
			req["thread_ts"] = d.Thread
		}
		body, _ := json.Marshal(req)
		k := call{
			platform: "slack", op: "chat.postMessage", url: u, safeURL: u,
			header: jsonHeader("Bearer " + creds[0]), body: body, secrets: append(secrets[:len(secrets):len(secrets)], raw),
		}
		r, err := s.c.do(ctx, k)
		if err != nil {
			return err
		}
		var sr struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		parsed := json.Unmarshal(r.body, &sr) == nil
		if r.status >= 200 && r.status < 300 && parsed && sr.OK {
			return nil
		}
		if !parsed {
			return s.c.fail(k, r, "", errUnexpected(r.body), r.status < 300)
		}
		return s.c.fail(k, r, sr.Error, "", slackRetryable[sr.Error])
	})
}

// slackRetryable are the Slack error names a retry can clear. Slack answers most errors
// with HTTP 200 and ok:false; every other name (channel_not_found, invalid_auth,
// not_in_channel, is_archived, msg_too_long, account_inactive, …) is permanent.
var slackRetryable = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}
