package directory

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gongpai/gongpai/storage"
)

// TOTP parameters are fixed at what every authenticator app supports:
// HMAC-SHA1, 6 digits, 30-second steps (RFC 6238 defaults).
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20 // bytes; RFC 4226 recommends 160 bits
	// minSeedBytes accepts the 80-bit seeds some hardware tokens ship
	// with, the RFC 4226 minimum being 128 but older tokens predating it.
	minSeedBytes = 10
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func totpAAD(subject string) []byte { return []byte("totp:" + subject) }

// normaliseSeed turns a base32 seed as people type it ("jbsw y3dp …",
// padded or not) into canonical unpadded upper-case base32, and checks it
// decodes to at least minSeedBytes.
func normaliseSeed(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '=':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	raw, err := b32.DecodeString(s)
	if err != nil {
		return "", errors.New("is not valid base32")
	}
	if len(raw) < minSeedBytes {
		return "", fmt.Errorf("is %d bytes, at least %d required", len(raw), minSeedBytes)
	}
	return s, nil
}

// normaliseCode strips the spaces people type into "123 456" and reports
// whether what is left is a 6-digit code.
func normaliseCode(code string) (string, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits.Length() {
		return "", false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return code, true
}

// matchStep finds the time step, within skew of now, whose code equals
// code. Every candidate is computed and compared in constant time, newest
// first, and the newest match wins, so timing does not reveal which step
// matched.
func (d *Directory) matchStep(secret, code string, now time.Time) (int64, bool, error) {
	code, ok := normaliseCode(code)
	if !ok {
		return 0, false, nil
	}
	cur := now.Unix() / totpPeriod
	var found int64
	matched := 0
	for step := cur + int64(d.skew); step >= cur-int64(d.skew); step-- {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period:    totpPeriod,
			Digits:    totpDigits,
			Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false, err
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		if eq == 1 && matched == 0 {
			found = step
		}
		matched |= eq
	}
	return found, matched == 1, nil
}

// stepTTL is how long a used step must be remembered: until no code of it
// can be accepted any more, i.e. the window's full width plus the step in
// progress.
func (d *Directory) stepTTL() time.Duration {
	return time.Duration(2*d.skew+2) * totpPeriod * time.Second
}

// burn records step as used. A step already used, or older than the last
// used one, is a replay and ErrBadCredentials.
func (d *Directory) burn(ctx context.Context, subject string, step int64) error {
	err := d.store.UseTOTPStep(ctx, subject, step, d.stepTTL())
	if errors.Is(err, storage.ErrConflict) {
		return ErrBadCredentials
	}
	return err
}

// activeEmployee loads subject and refuses anyone not active, so that a
// freeze takes effect between the password and TOTP steps too.
func (d *Directory) activeEmployee(ctx context.Context, subject string) (*storage.Employee, error) {
	e, err := d.store.Employee(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	switch e.Status {
	case storage.StatusActive:
		return e, nil
	case storage.StatusFrozen:
		return nil, ErrFrozen
	default:
		return nil, ErrDeparted
	}
}

// VerifyTOTP checks code against the employee's enrolled seed and burns
// its time step, so each code signs in at most once. ErrTOTPNotEnrolled
// when there is no seed; ErrBadCredentials for a wrong or replayed code.
func (d *Directory) VerifyTOTP(ctx context.Context, subject, code string) error {
	e, err := d.activeEmployee(ctx, subject)
	if err != nil {
		return err
	}
	if len(e.TOTPSecret) == 0 {
		return ErrTOTPNotEnrolled
	}
	secret, err := d.sealer.Open(e.TOTPSecret, totpAAD(subject))
	if err != nil {
		return fmt.Errorf("directory: TOTP seed of %s: %w", e.EmployeeID, err)
	}
	step, ok, err := d.matchStep(string(secret), code, d.now())
	if err != nil {
		return fmt.Errorf("directory: TOTP seed of %s: %w", e.EmployeeID, err)
	}
	if !ok {
		return ErrBadCredentials
	}
	return d.burn(ctx, subject, step)
}

// NewTOTPKey generates a TOTP seed for an employee who has none. Nothing
// is stored until EnrolTOTP proves the employee's app produces codes.
func (d *Directory) NewTOTPKey(ctx context.Context, subject string) (*TOTPEnrolment, error) {
	e, err := d.activeEmployee(ctx, subject)
	if err != nil {
		return nil, err
	}
	if len(e.TOTPSecret) != 0 {
		return nil, ErrTOTPAlreadyEnrolled
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      d.issuer,
		AccountName: e.EmployeeID,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
		Rand:        d.rand,
	})
	if err != nil {
		return nil, fmt.Errorf("directory: generating TOTP key: %w", err)
	}
	return &TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// EnrolTOTP stores secret as the employee's TOTP seed once code proves the
// employee's app holds it. The code's step is burned, so the same code
// cannot then sign in. ErrBadCredentials for a wrong code,
// ErrTOTPAlreadyEnrolled if a seed is already stored, and a wrapped
// storage.ErrConflict if the employee changed meanwhile.
func (d *Directory) EnrolTOTP(ctx context.Context, subject, secret, code string) error {
	e, err := d.activeEmployee(ctx, subject)
	if err != nil {
		return err
	}
	if len(e.TOTPSecret) != 0 {
		return ErrTOTPAlreadyEnrolled
	}
	seed, err := normaliseSeed(secret)
	if err != nil {
		return &FieldError{Field: "secret", Message: err.Error()}
	}
	step, ok, err := d.matchStep(seed, code, d.now())
	if err != nil {
		return err
	}
	if !ok {
		return ErrBadCredentials
	}
	if err := d.burn(ctx, subject, step); err != nil {
		return err
	}
	return d.storeSeed(ctx, e, seed)
}

func (d *Directory) storeSeed(ctx context.Context, e *storage.Employee, seed string) error {
	sealed, err := d.sealer.Seal([]byte(seed), totpAAD(e.Subject))
	if err != nil {
		return err
	}
	e.TOTPSecret = sealed
	e.UpdatedAt = d.now().UTC()
	if err := d.store.UpdateEmployee(ctx, e); err != nil {
		return fmt.Errorf("directory: storing TOTP seed of %s: %w", e.EmployeeID, err)
	}
	return nil
}

// ResetTOTP removes an employee's TOTP seed (an administrative action,
// for a lost phone); they enrol again at their next sign-in.
func (d *Directory) ResetTOTP(ctx context.Context, subject string) error {
	e, err := d.store.Employee(ctx, subject)
	if err != nil {
		return err
	}
	e.TOTPSecret = nil
	e.UpdatedAt = d.now().UTC()
	if err := d.store.UpdateEmployee(ctx, e); err != nil {
		return fmt.Errorf("directory: resetting TOTP of %s: %w", e.EmployeeID, err)
	}
	return nil
}
