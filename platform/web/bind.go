package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/page"
)

// Bind decodes the JSON body into dst. It answers 415 for a body that is not JSON, 413 past
// the body limit and 400 VALIDATION_ERROR for malformed JSON or a field of the wrong type
// (details name the field). An empty body decodes to the zero value.
func Bind(c echo.Context, dst any) error {
	r := c.Request()
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apperr.E(apperr.UnsupportedMediaType, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// A value that ends right at the body limit decodes; the limit error surfaces here.
		if tooLarge(err) {
			return apperr.E(apperr.PayloadTooLarge, "Request body too large")
		}
		return apperr.E(apperr.Validation, "Malformed JSON body: trailing data after the object")
	}
	return nil
}

// tooLarge reports whether err comes from the body limit (echo's or net/http's).
func tooLarge(err error) bool {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	return (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) || errors.As(err, &mbe)
}

func decodeError(err error) error {
	if tooLarge(err) {
		return apperr.E(apperr.PayloadTooLarge, "Request body too large")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return apperr.ValidationFields(map[string]string{field: "must be " + jsonKind(te.Type.Kind().String())})
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	var ve *apperr.Error
	if errors.As(err, &ve) {
		return ve
	}
	return apperr.E(apperr.Validation, "Malformed JSON body")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "float32", "float64", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a number"
	}
	return "of another type"
}

// Problems collects field validation problems into one VALIDATION_ERROR.
type Problems map[string]string

// Check records msg for field when ok is false (the first problem of a field wins).
func (p Problems) Check(ok bool, field, msg string) {
	if !ok {
		if _, seen := p[field]; !seen {
			p[field] = msg
		}
	}
}

// Err returns the VALIDATION_ERROR, or nil when nothing failed.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return apperr.ValidationFields(p)
}

// ParsePage reads ?limit and ?cursor into a page.Request (platform/page is the one pager of
// every list route). A bad value is a 400 VALIDATION_ERROR naming the parameter.
func ParsePage(c echo.Context) (page.Request, error) {
	r, err := page.Parse(c.QueryParam("limit"), c.QueryParam("cursor"))
	if fe := (*page.FieldError)(nil); errors.As(err, &fe) {
		return r, apperr.ValidationFields(map[string]string{fe.Field: fe.Err.Error()})
	}
	return r, err
}

// PathUUID reads a UUID path parameter, answering 404 for anything that is not a UUID (an id
// that cannot exist is simply not found).
func PathUUID(c echo.Context, name, what string) (string, error) {
	v := c.Param(name)
	if !IsUUID(v) {
		return "", apperr.NotFoundf(what)
	}
	return strings.ToLower(v), nil
}

// IsUUID reports whether s is a canonical UUID string.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
