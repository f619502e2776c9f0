package outbound

import (
	"context"
	"encoding/json"
	"strings"
)

// resend sends the EMAIL channel's reply through Resend: POST {base}/emails with the API
// key as a Bearer token and the Idempotency-Key header (Resend keeps a key 24 h and answers
// a repeat with the first result, without sending again). From is the channel's
// fromAddress (its domain must be verified in the Resend account of RESEND_API_KEY), the
// subject "Re: <subject>" ("Re: your message" when unknown), a plain-text body, and
// In-Reply-To/References when the message answered is known, so the reply threads.
type resend struct {
	c    *client
	base string
	key  string
}

// fallbackSubject is the subject of a reply whose original subject is unknown.
const fallbackSubject = "Re: your message"

func (s resend) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("resend", d, "fromAddress")
	if err != nil {
		return 0, err
	}
	return sendParts(ctx, "resend", Email, d, func(ctx context.Context, part string, secrets []string) error {
		req := map[string]any{
			"from":    creds[0],
			"to":      []string{d.To},
			"subject": replySubject(d.Subject),
			"text":    part,
		}
		if id := messageID(d.Thread); id != "" {
			req["headers"] = map[string]string{"In-Reply-To": id, "References": id}
		}
		body, _ := json.Marshal(req)
		h := jsonHeader("Bearer " + s.key)
		if d.IdempotencyKey != "" {
			h.Set("Idempotency-Key", d.IdempotencyKey)
		}
		k := call{
			platform: "resend", op: "emails", url: s.base + "/emails", safeURL: s.base + "/emails",
			header: h, body: body, secrets: append(secrets[:len(secrets):len(secrets)], s.key),
		}
		r, err := s.c.do(ctx, k)
		if err != nil {
			return err
		}
		if r.status >= 200 && r.status < 300 {
			return nil
		}
		var re struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		}
		if json.Unmarshal(r.body, &re) != nil {
			return s.c.fail(k, r, "", errUnexpected(r.body), false)
		}
		e := s.c.fail(k, r, re.Name, re.Message, false)
		switch re.Name {
		case "invalid_idempotent_request", "monthly_quota_exceeded":
			// The same key with another body, or a quota that resets next month: a retry
			// within the job's attempts cannot succeed.
			e.Permanent, e.RetryAfter = true, 0
		}
		return e
	})
}

// replySubject is "Re: " + subject on one line, unless it already starts with "Re:".
func replySubject(subject string) string {
	s := strings.Join(strings.Fields(subject), " ")
	if s == "" {
		return fallbackSubject
	}
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return s
	}
	return "Re: " + s
}

// messageID returns thread as a header-safe <message-id>, or "" when there is none.
func messageID(thread string) string {
	id := strings.Trim(strings.Join(strings.Fields(thread), ""), "<>")
	if id == "" {
		return ""
	}
	return "<" + id + ">"
}
