// Package apperr defines the one application error type. Modules return *Error values (or
// wrap them); the web layer's error handler is the only place that turns them into HTTP
// status codes and the contract's JSON shape.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code (the "error" field of
// every error response; openapi.json lists them).
type Code string

// The codes of the API contract.
const (
	Validation           Code = "VALIDATION_ERROR"
	MissingToken         Code = "MISSING_TOKEN"
	InvalidToken         Code = "INVALID_TOKEN"
	InvalidCredentials   Code = "INVALID_CREDENTIALS"
	InvalidSignature     Code = "INVALID_SIGNATURE"
	Forbidden            Code = "FORBIDDEN"
	NotFound             Code = "NOT_FOUND"
	Conflict             Code = "CONFLICT"
	PayloadTooLarge      Code = "PAYLOAD_TOO_LARGE"
	UnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	InsufficientCredits  Code = "INSUFFICIENT_CREDITS"
	PlanLimitReached     Code = "PLAN_LIMIT_REACHED"
	RateLimited          Code = "RATE_LIMITED"
	BillingNotConfigured Code = "BILLING_NOT_CONFIGURED"
	LoginRequired        Code = "LOGIN_REQUIRED"
	Internal             Code = "INTERNAL_ERROR"
	MethodNotAllowed     Code = "METHOD_NOT_ALLOWED"
	ServiceUnavailable   Code = "SERVICE_UNAVAILABLE"
)

var statusByCode = map[Code]int{
	Validation:           http.StatusBadRequest,
	MissingToken:         http.StatusUnauthorized,
	InvalidToken:         http.StatusUnauthorized,
	InvalidCredentials:   http.StatusUnauthorized,
	InvalidSignature:     http.StatusUnauthorized,
	Forbidden:            http.StatusForbidden,
	NotFound:             http.StatusNotFound,
	Conflict:             http.StatusConflict,
	PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	UnsupportedMediaType: http.StatusUnsupportedMediaType,
	InsufficientCredits:  http.StatusPaymentRequired,
	PlanLimitReached:     http.StatusPaymentRequired,
	RateLimited:          http.StatusTooManyRequests,
	BillingNotConfigured: http.StatusNotImplemented,
	LoginRequired:        http.StatusConflict,
	Internal:             http.StatusInternalServerError,
	MethodNotAllowed:     http.StatusMethodNotAllowed,
	ServiceUnavailable:   http.StatusServiceUnavailable,
}

// InternalMessage is the only text a client ever sees for an unexpected error.
const InternalMessage = "An unexpected error occurred"

// Error is an application error: a code, a human message safe to show to the client,
// optional details (for VALIDATION_ERROR: field → problem) and an optional internal
// cause that is logged but never shown.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, apperr.E(apperr.NotFound, "")) style checks and sentinels work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Status returns the HTTP status for the error's code.
func (e *Error) Status() int {
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// E builds an error with a code and a message.
func E(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Wrap builds an error with a code, message and internal cause.
func Wrap(code Code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Cause: cause}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d map[string]any) *Error {
	c := *e
	c.Details = d
	return &c
}

// ValidationFields builds a VALIDATION_ERROR whose details map field names to problems.
func ValidationFields(fields map[string]string) *Error {
	d := make(map[string]any, len(fields))
	for k, v := range fields {
		d[k] = v
	}
	return &Error{Code: Validation, Message: "Request validation failed", Details: d}
}

// NotFoundf builds a NOT_FOUND error naming the missing thing.
func NotFoundf(what string) *Error { return E(NotFound, what+" not found") }

// As extracts an *Error from err, or returns nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of err, or Internal when err is not an application error.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}
