package pg

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"syscall"

	"github.com/lib/pq"

	"github.com/axonhq/axon/platform/apperr"
)

// Postgres SQLSTATE codes the application reacts to.
const (
	CodeUniqueViolation     = "23505"
	CodeForeignKeyViolation = "23503"
	CodeCheckViolation      = "23514"
	CodeNotNullViolation    = "23502"
	CodeInvalidText         = "22P02"
	CodeStringTooLong       = "22001"
	CodeNumericOutOfRange   = "22003"
	CodeSerialization       = "40001"
	CodeDeadlock            = "40P01"
)

// Code returns the SQLSTATE of err, or "".
func Code(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return ""
}

// Constraint returns the violated constraint's name, or "".
func Constraint(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Constraint
	}
	return ""
}

// IsUniqueViolation reports a unique-constraint violation (optionally of one constraint).
func IsUniqueViolation(err error, constraint ...string) bool {
	if Code(err) != CodeUniqueViolation {
		return false
	}
	if len(constraint) == 0 {
		return true
	}
	c := Constraint(err)
	for _, want := range constraint {
		if c == want {
			return true
		}
	}
	return false
}

// IsUnavailable reports an error that means the database cannot be used right now rather
// than a bug: the connection was refused, reset or lost mid-query, the server is starting,
// shutting down or out of connection slots, or no pooled connection became free within
// pool_timeout. The HTTP layer answers such errors with 503, so that clients (and the
// platforms that redeliver webhooks) retry.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		ErrPoolTimeout, driver.ErrBadConn, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300": // admin/crash shutdown, cannot connect now, too many connections
			return true
		}
		return pe.Code.Class() == "08" // connection exception
	}
	return false
}

// IsNoRows reports sql.ErrNoRows.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// MapError turns the Postgres errors that bad client input can cause into application errors
// (so they become 4xx, never 500), and returns anything else unchanged.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if apperr.As(err) != nil {
		return err
	}
	switch Code(err) {
	case CodeUniqueViolation:
		return apperr.Wrap(apperr.Conflict, "The resource already exists", err)
	case CodeForeignKeyViolation:
		return apperr.Wrap(apperr.NotFound, "A referenced resource does not exist", err)
	case CodeCheckViolation, CodeNotNullViolation, CodeInvalidText, CodeStringTooLong, CodeNumericOutOfRange:
		return apperr.Wrap(apperr.Validation, "A value is not valid", err)
	}
	if IsNoRows(err) {
		return apperr.Wrap(apperr.NotFound, "Not found", err)
	}
	return err
}
