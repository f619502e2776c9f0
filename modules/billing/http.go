package billing

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/modules/billing/plans"
	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/authn"
	"github.com/axonhq/axon/platform/page"
	"github.com/axonhq/axon/platform/web"
)

// webhookBodyLimit is the 1 MB body limit of the Stripe webhook.
const webhookBodyLimit = 1 << 20

type handlers struct {
	svc *Service
}

// Request and response types.

type checkoutRequest struct {
	Plan string `json:"plan"`
}

type topupRequest struct {
	Pack string `json:"pack"`
}

type urlResponse struct {
	URL string `json:"url"`
}

type consumedDTO struct {
	Messages int `json:"messages"`
	Voice    int `json:"voice"`
	Tagging  int `json:"tagging"`
	Total    int `json:"total"`
}

type creditsResponse struct {
	Balance      int         `json:"balance"`
	Plan         string      `json:"plan"`
	MonthlyGrant int         `json:"monthlyGrant"`
	Consumed     consumedDTO `json:"consumed"`
	PeriodStart  time.Time   `json:"periodStart"`
}

type ledgerDTO struct {
	ID        string    `json:"id"`
	Delta     int       `json:"delta"`
	Reason    string    `json:"reason"`
	RefID     *string   `json:"refId"`
	Balance   int       `json:"balance"`
	CreatedAt time.Time `json:"createdAt"`
}

type invoiceDTO struct {
	ID               string    `json:"id"`
	Number           string    `json:"number"`
	Status           string    `json:"status"`
	Currency         string    `json:"currency"`
	AmountDue        int64     `json:"amountDue"`
	AmountPaid       int64     `json:"amountPaid"`
	Created          time.Time `json:"created"`
	HostedInvoiceURL string    `json:"hostedInvoiceUrl"`
	InvoicePDF       string    `json:"invoicePdf"`
}

// requireStripe answers 501 BILLING_NOT_CONFIGURED when Stripe is not set up.
func (h *handlers) requireStripe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !h.svc.Configured() {
			return ErrNotConfigured
		}
		return next(c)
	}
}

func (h *handlers) catalogue(c echo.Context) error {
	return c.JSON(http.StatusOK, h.svc.Catalogue())
}

func (h *handlers) credits(c echo.Context) error {
	p := authn.MustGet(c)
	s, err := h.svc.CreditsSummary(c.Request().Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, creditsResponse{
		Balance: s.Balance, Plan: s.Plan, MonthlyGrant: s.MonthlyGrant, PeriodStart: s.PeriodStart,
		Consumed: consumedDTO{Messages: s.Consumed.Messages, Voice: s.Consumed.Voice, Tagging: s.Consumed.Tagging, Total: s.Consumed.Total},
	})
}

func (h *handlers) ledger(c echo.Context) error {
	p := authn.MustGet(c)
	req, err := web.ParsePage(c)
	if err != nil {
		return err
	}
	rows, err := h.svc.Ledger(c.Request().Context(), p.WorkspaceID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page.Cut(req, rows,
		func(r LedgerEntry) page.Key { return page.Key{Time: r.CreatedAt, ID: r.ID} },
		func(r LedgerEntry) ledgerDTO {
			return ledgerDTO{ID: r.ID, Delta: r.Delta, Reason: r.Reason, RefID: r.RefID, Balance: r.Balance, CreatedAt: r.CreatedAt.UTC()}
		}))
}

// The invoice list keeps Stripe's own pager: its cursor is the base64url of the last
// invoice's id (Stripe's starting_after), opaque to the client like every cursor.
var stripeIDRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

func (h *handlers) invoices(c echo.Context) error {
	p := authn.MustGet(c)
	req, err := page.Parse(c.QueryParam("limit"), "")
	if err != nil {
		return apperr.ValidationFields(map[string]string{"limit": page.ErrLimit.Error()})
	}
	after, ok := decodeInvoiceCursor(c.QueryParam("cursor"))
	if !ok {
		return apperr.ValidationFields(map[string]string{"cursor": page.ErrCursor.Error()})
	}
	rows, next, err := h.svc.Invoices(c.Request().Context(), p.WorkspaceID, req.Limit, after)
	if err != nil {
		return err
	}
	items := make([]invoiceDTO, len(rows))
	for i, r := range rows {
		items[i] = invoiceDTO(r)
	}
	return c.JSON(http.StatusOK, page.Of(items, encodeInvoiceCursor(next)))
}

func encodeInvoiceCursor(invoiceID string) string {
	if invoiceID == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(invoiceID))
}

// decodeInvoiceCursor returns the invoice id of a cursor ("" for none); ok is false for a
// cursor this API did not issue.
func decodeInvoiceCursor(cursor string) (invoiceID string, ok bool) {
	if cursor == "" {
		return "", true
	}
	if len(cursor) > 512 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(cursor, "="))
	if err != nil || !stripeIDRe.Match(b) {
		return "", false
	}
	return string(b), true
}

func (h *handlers) checkout(c echo.Context) error {
	p := authn.MustGet(c)
	var req checkoutRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	plan, ok := plans.Get(req.Plan)
	probs := web.Problems{}
	probs.Check(ok && plan.SelfServe, "plan", "must be one of "+strings.Join(selfServePlans(), ", "))
	if err := probs.Err(); err != nil {
		return err
	}
	url, err := h.svc.Checkout(c.Request().Context(), p.WorkspaceID, p.UserID, req.Plan)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, urlResponse{URL: url})
}

func (h *handlers) topup(c echo.Context) error {
	p := authn.MustGet(c)
	var req topupRequest
	if err := web.Bind(c, &req); err != nil {
		return err
	}
	_, ok := plans.GetPack(req.Pack)
	probs := web.Problems{}
	probs.Check(ok, "pack", "must be one of "+strings.Join(packIDs(), ", "))
	if err := probs.Err(); err != nil {
		return err
	}
	url, err := h.svc.Topup(c.Request().Context(), p.WorkspaceID, p.UserID, req.Pack)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, urlResponse{URL: url})
}

func (h *handlers) portal(c echo.Context) error {
	p := authn.MustGet(c)
	url, err := h.svc.Portal(c.Request().Context(), p.WorkspaceID, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, urlResponse{URL: url})
}

// stripeWebhook reads the raw body (at most 1 MB; the signature covers the exact bytes) and
// hands it to the service; 200 means stored, a known duplicate or an ignored type.
func (h *handlers) stripeWebhook(c echo.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, webhookBodyLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.E(apperr.PayloadTooLarge, "Request body too large")
		}
		return apperr.Wrap(apperr.Validation, "Could not read the request body", err)
	}
	res, err := h.svc.ReceiveWebhook(c.Request().Context(), body, c.Request().Header.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"received": true, "result": res})
}
