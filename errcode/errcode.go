// Package errcode gives every error that reaches an operator (CLI) or an
// admin-API caller a stable code, an HTTP status and a plain message. The
// codes are listed, with causes and fixes, in docs/errors.md.
package errcode

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// Error is the one error shape at the boundary.
type Error struct {
	Code    string `json:"code"`
	Status  int    `json:"-"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s %s: %s", e.Code, e.Field, e.Message)
	}
	return e.Code + " " + e.Message
}

// The stable codes (ARCHITECTURE §7).
const (
	Unauthenticated  = "E-101"
	PermissionDenied = "E-102"
	AccountFrozen    = "E-103"
	AccountLocked    = "E-104"
	InvalidInput     = "E-201"
	NotFound         = "E-204"
	Conflict         = "E-205"
	RateLimited      = "E-301"
	Unavailable      = "E-503"
	Internal         = "E-500"
)

// invalidField is implemented by the validation errors of directory, op and
// config: one input field and what is wrong with it.
type invalidField interface {
	error
	InvalidField() (field, message string)
}

// From translates any error into an *Error. Unknown errors become E-500
// with a generic message: their detail belongs in the log, not the answer.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var fe invalidField
	var te *directory.TransitionError
	switch {
	case errors.As(err, &te):
		return &Error{Code: Conflict, Status: http.StatusConflict, Field: "status", Message: te.Error()}
	case errors.As(err, &fe):
		field, msg := fe.InvalidField()
		return &Error{Code: InvalidInput, Status: http.StatusBadRequest, Field: field, Message: msg}
	case errors.Is(err, storage.ErrNotFound):
		return &Error{Code: NotFound, Status: http.StatusNotFound, Message: "not found"}
	case errors.As(err, new(*storage.InUseError)):
		ie, _ := storage.AsInUse(err)
		return &Error{Code: Conflict, Status: http.StatusConflict, Message: "conflict: " + ie.Error()}
	case errors.Is(err, storage.ErrConflict):
		return &Error{Code: Conflict, Status: http.StatusConflict, Message: "conflict: the record already exists or was changed by someone else"}
	case errors.Is(err, directory.ErrFrozen):
		return &Error{Code: AccountFrozen, Status: http.StatusForbidden, Message: "the account is frozen"}
	case errors.Is(err, storage.ErrUnavailable):
		return &Error{Code: Unavailable, Status: http.StatusServiceUnavailable, Message: "the store is unavailable; try again shortly"}
	}
	return &Error{Code: Internal, Status: http.StatusInternalServerError, Message: "internal error"}
}
