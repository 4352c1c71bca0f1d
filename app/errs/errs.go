// Package errs is the one error vocabulary of the program. Domain code returns
// these kinds; the HTTP layer maps them to statuses in one place, logs only
// internal errors and shows users the message.
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Kind classifies an error for the caller.
type Kind string

const (
	Invalid      Kind = "invalid"      // 400: the request is wrong
	Unauthorized Kind = "unauthorized" // 401: who are you?
	Forbidden    Kind = "forbidden"    // 403: you may not
	NotFound     Kind = "not_found"    // 404
	Conflict     Kind = "conflict"     // 409
	TooLarge     Kind = "too_large"    // 413
	RateLimited  Kind = "rate_limited" // 429
	Unavailable  Kind = "unavailable"  // 503: try again later
	Internal     Kind = "internal"     // 500: our fault; logged
)

// Error is an error with a kind and a message safe to show a user.
type Error struct {
	Kind    Kind
	Message string
	Err     error // the cause, for logs; never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an error of kind k with a user-facing message.
func E(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap makes an error of kind k that keeps its cause for the logs.
func Wrap(k Kind, err error, message string) error {
	return &Error{Kind: k, Message: message, Err: err}
}

// KindOf returns the kind of err: Internal for anything unclassified, and
// NotFound for pgx.ErrNoRows (so no caller has to remember that).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return NotFound
	}
	if isDataException(err) {
		return Invalid
	}
	return Internal
}

// isDataException reports a PostgreSQL data exception (class 22: a value
// too long, bad encoding, out of range): the input was wrong, not the server.
func isDataException(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && strings.HasPrefix(pg.Code, "22")
}

// Message returns the text to show a user.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "not found"
	}
	if isDataException(err) {
		var pg *pgconn.PgError
		errors.As(err, &pg)
		return "a value cannot be stored: " + pg.Message
	}
	return "internal error"
}

// Status maps a kind to its HTTP status.
func Status(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
