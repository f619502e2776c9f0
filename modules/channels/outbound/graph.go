package outbound

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// whatsapp sends through the WhatsApp Cloud API:
// POST {base}/{phoneNumberId}/messages with the access token as a Bearer token.
type whatsapp struct {
	c    *client
	base string
}

func (s whatsapp) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("whatsapp", d, "phoneNumberId", "accessToken")
	if err != nil {
		return 0, err
	}
	phoneID, token := creds[0], creds[1]
	u := s.base + "/" + url.PathEscape(phoneID) + "/messages"
	return sendParts(ctx, "whatsapp", WhatsApp, d, func(ctx context.Context, part string, secrets []string) error {
		body, _ := json.Marshal(map[string]any{
			"messaging_product": "whatsapp",
			"recipient_type":    "individual",
			"to":                d.To,
			"type":              "text",
			"text":              map[string]string{"body": part},
		})
		return s.c.graph(ctx, call{
			platform: "whatsapp", op: "messages", url: u, safeURL: u,
			header: jsonHeader("Bearer " + token), body: body, secrets: secrets,
		})
	})
}

// messenger sends through the Messenger Send API: POST {base}/me/messages with the page
// access token as a Bearer token (the Graph API takes it there as well as in the query,
// and the header keeps it out of URLs), messaging_type RESPONSE. A reply more than 24 h
// after the customer's last message is refused by Meta (code 10, subcode 2018278):
// permanent, as message tags are not sent.
type messenger struct {
	c    *client
	base string
}

func (s messenger) Send(ctx context.Context, d Delivery) (int, error) {
	creds, err := need("messenger", d, "pageAccessToken")
	if err != nil {
		return 0, err
	}
	u := s.base + "/me/messages"
	return sendParts(ctx, "messenger", Messenger, d, func(ctx context.Context, part string, secrets []string) error {
		body, _ := json.Marshal(map[string]any{
			"recipient":      map[string]string{"id": d.To},
			"messaging_type": "RESPONSE",
			"message":        map[string]string{"text": part},
		})
		return s.c.graph(ctx, call{
			platform: "messenger", op: "messages", url: u, safeURL: u,
			header: jsonHeader("Bearer " + creds[0]), body: body, secrets: secrets,
		})
	})
}

// graphError is the Graph API's error answer.
type graphError struct {
	Error struct {
		Message     string `json:"message"`
		Type        string `json:"type"`
		Code        int    `json:"code"`
		Subcode     int    `json:"error_subcode"`
		IsTransient bool   `json:"is_transient"`
	} `json:"error"`
}

// graphRetryable are Graph error codes that a later retry can clear, whatever the HTTP
// status they come with (Graph reports rate limits with 400 and 403 too): 1 unknown error,
// 2 service unavailable, 4/17/32/613 API rate limits, 341 application limit, 80007 WhatsApp
// rate limit, 130429 throughput limit, 131016 service unavailable, 131048 spam rate limit,
// 131056 pair rate limit, 133004 server unavailable, 1200 Messenger temporary failure.
var graphRetryable = map[int]bool{
	1: true, 2: true, 4: true, 17: true, 32: true, 341: true, 613: true, 1200: true,
	80007: true, 130429: true, 131016: true, 131048: true, 131056: true, 133004: true,
}

// graph runs a Graph API call: 2xx is success; otherwise the error code decides.
func (c *client) graph(ctx context.Context, k call) error {
	r, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	var ge graphError
	if json.Unmarshal(r.body, &ge) != nil || ge.Error.Code == 0 && ge.Error.Message == "" {
		return c.fail(k, r, "", errUnexpected(r.body), false)
	}
	code := strconv.Itoa(ge.Error.Code)
	if ge.Error.Subcode != 0 {
		code += "/" + strconv.Itoa(ge.Error.Subcode)
	}
	return c.fail(k, r, code, ge.Error.Message, ge.Error.IsTransient || graphRetryable[ge.Error.Code])
}
