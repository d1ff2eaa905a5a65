package directory

import "errors"

var (
	// ErrBadCredentials is the one answer for an unknown employee ID, a
	// wrong password, a wrong or replayed TOTP code: sign-in must not reveal
	// which it was.
	ErrBadCredentials = errors.New("directory: invalid employee ID, password or code")
	// ErrFrozen is returned only after the password was right: the
	// employee exists, is frozen, and may be told so (E-103).
	ErrFrozen = errors.New("directory: account frozen")
	// ErrDeparted is returned only after the password was right.
	ErrDeparted = errors.New("directory: employee has left")
	// ErrTOTPNotEnrolled means the employee has no TOTP seed yet and must
	// enrol before finishing sign-in.
	ErrTOTPNotEnrolled = errors.New("directory: TOTP not enrolled")
	// ErrTOTPAlreadyEnrolled refuses a new TOTP key for an employee who
	// has one: knowing the password alone must not be enough to replace
	// the second factor. Re-enrolment is an administrative reset.
	ErrTOTPAlreadyEnrolled = errors.New("directory: TOTP already enrolled")
	// ErrPasswordStale refuses a password change at sign-in when the
	// password checked at the start of that sign-in is no longer the
	// employee's (changed in another tab, or reset by an administrator):
	// the sign-in starts over.
	ErrPasswordStale = errors.New("directory: the password changed since this sign-in checked it")
)

// FieldError is invalid input, naming the field at fault (E-201). Several
// may come back joined with errors.Join; errors.As finds the first.
type FieldError struct {
	Field   string // snake_case input name, e.g. "employee_id"
	Message string // what is wrong, phrased to follow the field name
	// Rule names the policy rule broken, for callers that phrase the
	// problem themselves (the sign-in pages): one of the RulePassword*
	// constants, or "" for any other problem.
	Rule string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// InvalidField reports the field and the problem; errcode maps any error
// with this method to E-201.
func (e *FieldError) InvalidField() (field, message string) { return e.Field, e.Message }

// TOTPEnrolment is a freshly generated, not yet stored TOTP key.
type TOTPEnrolment struct {
	Secret string // base32, no padding
	URL    string // otpauth://totp/…
}
