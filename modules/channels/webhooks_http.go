package channels

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/channels/inbound"
	"github.com/axonhq/axon/platform/apperr"
)

// The platforms' webhooks (SPEC §5 "Webhooks"). Each handler reads the raw body (1 MB at
// most), finds the channel its slug names (404 for an unknown slug, an inactive channel or
// one no active agent answers), verifies the platform's signature on the raw bytes (401
// INVALID_SIGNATURE), parses the messages (400 for a malformed body), stores them and
// enqueues their processing in one transaction, and answers 200 — before any AI work.
// Payloads that are not messages are acknowledged and ignored. The voice loop
// (webhooks_voice.go) is the exception: Twilio waits for the answer's TwiML.

// webhookBodyLimit is the 1 MB body limit of channel webhooks.
const webhookBodyLimit = 1 << 20

var errBadSignature = apperr.E(apperr.InvalidSignature, "Webhook signature verification failed")

// readBody reads the raw request body: 413 past the limit.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, webhookBodyLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apperr.E(apperr.PayloadTooLarge, "Request body too large")
		}
		return nil, apperr.Wrap(apperr.Validation, "Could not read the request body", err)
	}
	return body, nil
}

// inboundErr maps the inbound package's errors to the contract's: a failed verification
// is 401 INVALID_SIGNATURE, a malformed body 400.
func inboundErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, inbound.ErrSignature):
		return errBadSignature
	case errors.Is(err, inbound.ErrMalformed):
		return apperr.Wrap(apperr.Validation, "Malformed webhook body: "+err.Error(), err)
	}
	return err
}

// received is every message webhook's 200 answer.
type received struct {
	Received bool `json:"received"`
	Accepted int  `json:"accepted"`
}

// accept stores msgs for ch and answers 200.
func (h *handlers) accept(c echo.Context, ch WebhookChannel, msgs []inbound.Message, err error) error {
	if err := inboundErr(err); err != nil {
		return err
	}
	n, err := h.svc.AcceptInbound(c.Request().Context(), ch, msgs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, received{Received: true, Accepted: n})
}

// webhook reads the body and finds the channel of type typ (read for this request: the
// voice loop's).
func (h *handlers) webhook(c echo.Context, typ string) ([]byte, WebhookChannel, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, WebhookChannel{}, err
	}
	ch, err := h.svc.WebhookChannel(c.Request().Context(), c.Param("slug"), typ)
	return body, ch, err
}

// receive runs a message webhook: it reads the body, finds the channel of type typ (from the
// per-replica cache when it holds it) and runs handle, which verifies, parses, stores and
// answers. When the channel came from the cache and handle was refused for a reason a
// change of the channel explains — AcceptInbound found it changed (errChannelChanged), or
// the cached secret did not verify the signature — the channel is read again and handle
// runs once more with it. handle writes the answer only when it returns nil.
func (h *handlers) receive(c echo.Context, typ string, handle func(body []byte, ch WebhookChannel) error) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ctx, slug := c.Request().Context(), c.Param("slug")
	ch, err := h.hooks.channel(ctx, slug, typ)
	if err != nil {
		return err
	}
	err = handle(body, ch)
	if ch.cached && (errors.Is(err, errChannelChanged) || errors.Is(err, errBadSignature)) {
		if ch, err = h.hooks.fresh(ctx, slug, typ); err != nil {
			return err
		}
		err = handle(body, ch)
	}
	if errors.Is(err, errChannelChanged) {
		h.hooks.forget(slug, typ)
		return errChannelChanging
	}
	return err
}

// metaChallenge answers the Graph API's subscription check (WhatsApp and Messenger): echo
// hub.challenge when hub.verify_token is the channel's verifyToken.
func (h *handlers) metaChallenge(typ string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ch, err := h.svc.WebhookChannel(c.Request().Context(), c.Param("slug"), typ)
		if err != nil {
			return err
		}
		challenge, err := inbound.MetaChallenge(c.QueryParams(), ch.Creds["verifyToken"])
		if err := inboundErr(err); err != nil {
			return err
		}
		return c.String(http.StatusOK, challenge)
	}
}

func (h *handlers) whatsappWebhook(c echo.Context) error {
	return h.receive(c, "WHATSAPP", func(body []byte, ch WebhookChannel) error {
		if err := inboundErr(inbound.VerifyMeta(body, c.Request().Header.Get("X-Hub-Signature-256"), ch.Creds["appSecret"])); err != nil {
			return err
		}
		msgs, err := inbound.ParseWhatsApp(body)
		return h.accept(c, ch, msgs, err)
	})
}

func (h *handlers) messengerWebhook(c echo.Context) error {
	return h.receive(c, "MESSENGER", func(body []byte, ch WebhookChannel) error {
		if err := inboundErr(inbound.VerifyMeta(body, c.Request().Header.Get("X-Hub-Signature-256"), ch.Creds["appSecret"])); err != nil {
			return err
		}
		msgs, err := inbound.ParseMessenger(body)
		return h.accept(c, ch, msgs, err)
	})
}

func (h *handlers) telegramWebhook(c echo.Context) error {
	return h.receive(c, "TELEGRAM", func(body []byte, ch WebhookChannel) error {
		if err := inboundErr(inbound.VerifyTelegram(c.Request().Header.Get("X-Telegram-Bot-Api-Secret-Token"), ch.Secret)); err != nil {
			return err
		}
		msgs, err := inbound.ParseTelegram(body)
		for i := range msgs {
			// A user opening the bot sends "/start" (with an optional deep-link payload): it
			// is a greeting, not a question for the knowledge base.
			if msgs[i].Text == "/start" || strings.HasPrefix(msgs[i].Text, "/start ") {
				msgs[i].Text = "Hello!"
			}
		}
		return h.accept(c, ch, msgs, err)
	})
}

func (h *handlers) slackWebhook(c echo.Context) error {
	return h.receive(c, "SLACK", func(body []byte, ch WebhookChannel) error {
		hd := c.Request().Header
		if err := inboundErr(inbound.VerifySlack(body, hd.Get("X-Slack-Request-Timestamp"), hd.Get("X-Slack-Signature"),
			ch.Creds["signingSecret"], h.svc.now())); err != nil {
			return err
		}
		challenge, msgs, err := inbound.ParseSlack(body)
		if err == nil && challenge != "" {
			return c.JSON(http.StatusOK, map[string]string{"challenge": challenge})
		}
		return h.accept(c, ch, msgs, err)
	})
}

// twilioForm verifies a Twilio webhook (X-Twilio-Signature over the URL Twilio called and
// the POST parameters) and returns its parameters.
func (h *handlers) twilioForm(c echo.Context, body []byte, ch WebhookChannel) (url.Values, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, apperr.Wrap(apperr.Validation, "Malformed form body", err)
	}
	if err := inbound.VerifyTwilio(h.svc.publicURL(c.Request()), form, c.Request().Header.Get("X-Twilio-Signature"), ch.Creds["authToken"]); err != nil {
		return nil, inboundErr(err)
	}
	return form, nil
}

// smsWebhook stores a Twilio SMS and answers an empty TwiML <Response/>: the reply goes out
// through the Messages API (channels.send_message).
func (h *handlers) smsWebhook(c echo.Context) error {
	return h.receive(c, "SMS", func(body []byte, ch WebhookChannel) error {
		form, err := h.twilioForm(c, body, ch)
		if err != nil {
			return err
		}
		msgs, err := inbound.ParseSMS(form)
		if err := inboundErr(err); err != nil {
			return err
		}
		if _, err := h.svc.AcceptInbound(c.Request().Context(), ch, msgs); err != nil {
			return err
		}
		return twiml(c, inbound.TwiMLEmpty())
	})
}

// emailWebhook stores an inbound e-mail (JSON or form fields); the shared secret is the
// URL's ?key=.
func (h *handlers) emailWebhook(c echo.Context) error {
	return h.receive(c, "EMAIL", func(body []byte, ch WebhookChannel) error {
		if err := inboundErr(inbound.VerifyKey(c.QueryParam("key"), ch.Secret)); err != nil {
			return err
		}
		msgs, err := inbound.ParseEmail(c.Request().Header.Get(echo.HeaderContentType), body)
		return h.accept(c, ch, msgs, err)
	})
}

// twiml answers Twilio with a TwiML document.
func twiml(c echo.Context, doc []byte) error {
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", doc)
}

// publicURL is the URL the platform called: API_BASE_URL (what the channel's webhookUrl
// shows) plus the request's path and query; the request's own host when API_BASE_URL is
// unset.
func (s *Service) publicURL(r *http.Request) string {
	if s.apiBase != "" {
		return s.apiBase + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
