package storage

import (
	"errors"
	"strconv"
)

// InUseError refuses to delete a record others still refer to, saying
// which. It is ErrConflict (errors.Is), so callers that only know the
// sentinel still see a conflict; errcode shows its message (E-205).
type InUseError struct {
	Msg string
}

func (e *InUseError) Error() string { return e.Msg }

// Is makes an InUseError match ErrConflict.
func (e *InUseError) Is(target error) bool { return target == ErrConflict }

// AsInUse returns the InUseError in err's chain, if any.
func AsInUse(err error) (*InUseError, bool) {
	var e *InUseError
	ok := errors.As(err, &e)
	return e, ok
}

// GrantRef is a role grant as an InUseError names it: the role and the
// employee ID of its holder (the sub when the holder is gone).
type GrantRef struct {
	Role, Holder string
}

// DepartmentGrantsError is the InUseError of DeleteDepartment while role
// grants are scoped to the department: n grants, the first of them in
// refs.
func DepartmentGrantsError(code string, n int, refs []GrantRef) *InUseError {
	msg := "department " + code + " is the scope of " + strconv.Itoa(n) + " role grant"
	if n != 1 {
		msg += "s"
	}
	for i, g := range refs {
		if i == 0 {
			msg += " ("
		} else {
			msg += ", "
		}
		msg += g.Role + " of " + g.Holder
	}
	if len(refs) > 0 {
		if n > len(refs) {
			msg += ", …"
		}
		msg += ")"
	}
	return &InUseError{Msg: msg + ": revoke them first (DELETE /employees/{id}/roles/{role}?department_id=…)"}
}
