package outbound

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// twilio sends SMS through the Messages API: POST
// {base}/2010-04-01/Accounts/{accountSid}/Messages.json, form To, From, Body, HTTP basic
// auth accountSid:authToken. Each part is at most SMSMaxSegments segments.
type twilio struct {
	c    *client
	base string
}

func (s twilio) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("twilio", d, "accountSid", "authToken", "fromNumber")
	if err != nil {
		return 0, err
	}
	sid, token, from := creds[0], creds[1], creds[2]
	u := s.base + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Messages.json"
	return sendParts(ctx, "twilio", SMS, d, func(ctx context.Context, part string, secrets []string) error {
		h := http.Header{
			"Content-Type":  {"application/x-www-form-urlencoded"},
			"Accept":        {"application/json"},
			"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(sid+":"+token))},
		}
		form := url.Values{"To": {d.To}, "From": {from}, "Body": {part}}
		k := call{
			platform: "twilio", op: "Messages.json", url: u, safeURL: u,
			header: h, body: []byte(form.Encode()), secrets: secrets,
		}
		r, err := s.c.do(ctx, k)
		if err != nil {
			return err
		}
		if r.status >= 200 && r.status < 300 {
			return nil
		}
		var te struct {
			Code    json.Number `json:"code"`
			Message string      `json:"message"`
		}
		if json.Unmarshal(r.body, &te) != nil {
			return s.c.fail(k, r, "", errUnexpected(r.body), false)
		}
		code := strings.TrimSpace(te.Code.String())
		n, _ := strconv.Atoi(code)
		// 20429: too many requests; 20500/20503: Twilio's own server errors.
		return s.c.fail(k, r, code, te.Message, n == 20429 || n == 20500 || n == 20503)
	})
}
