package directory_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // 20 bytes

// code is what an authenticator app shows for secret at t.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{TOTPSeed: "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"})
	now := f.clock.Now

	if err := f.dir.VerifyTOTP(ctx, e.Subject, "000000x"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("malformed code = %v, want ErrBadCredentials", err)
	}
	c := code(t, seed, now())
	if err := f.dir.VerifyTOTP(ctx, e.Subject, c[:3]+" "+c[3:]); err != nil {
		t.Fatalf("correct code (typed with a space) = %v", err)
	}
	if err := f.dir.VerifyTOTP(ctx, e.Subject, c); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("same code again = %v, want ErrBadCredentials (replay)", err)
	}
	// The previous step's code is inside the skew window but older than
	// the step just used: refused.
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, now().Add(-30*time.Second))); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("older step after a newer one = %v, want ErrBadCredentials", err)
	}
	f.clock.Add(30 * time.Second)
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, now())); err != nil {
		t.Errorf("next step's code = %v", err)
	}
	// Long after, the step record has expired, yet an old code is still
	// outside the window.
	f.clock.Add(10 * time.Minute)
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, now().Add(-60*time.Second))); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("code from 2 steps ago = %v, want ErrBadCredentials", err)
	}
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, now())); err != nil {
		t.Errorf("current code after a pause = %v", err)
	}
}

func TestVerifyTOTPSkewWindow(t *testing.T) {
	tests := []struct {
		skew   uint
		offset int // steps between the code and now
		ok     bool
	}{
		{0, 0, true},
		{0, -1, false},
		{0, 1, false},
		{1, -1, true},
		{1, 1, true},
		{1, -2, false},
		{1, 2, false},
		{2, -2, true},
		{2, 2, true},
		{2, -3, false},
		{3, 3, true},
		{3, -4, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("skew %d offset %+d", tt.skew, tt.offset), func(t *testing.T) {
			f := newFixture(t, func(o *directory.Options) { o.TOTPSkew = tt.skew })
			e := f.onboard(t, directory.Onboarding{TOTPSeed: seed})
			c := code(t, seed, f.clock.Now().Add(time.Duration(tt.offset)*30*time.Second))
			err := f.dir.VerifyTOTP(context.Background(), e.Subject, c)
			if tt.ok && err != nil {
				t.Errorf("VerifyTOTP = %v, want accepted", err)
			}
			if !tt.ok && !errors.Is(err, directory.ErrBadCredentials) {
				t.Errorf("VerifyTOTP = %v, want ErrBadCredentials", err)
			}
		})
	}
}

// The newest matching step is the one burned: after a code from the step
// ahead (a phone whose clock runs fast), the current step's code is a
// replay of an older step.
func TestVerifyTOTPBurnsNewestStep(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{TOTPSeed: seed})
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, f.clock.Now().Add(30*time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, seed, f.clock.Now())); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("current code after a future one = %v, want ErrBadCredentials", err)
	}
}

func TestVerifyTOTPStates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain := f.onboard(t, directory.Onboarding{})
	frozen := f.onboard(t, directory.Onboarding{TOTPSeed: seed})
	f.store.setStatus(frozen.Subject, storage.StatusFrozen)
	departed := f.onboard(t, directory.Onboarding{TOTPSeed: seed})
	f.store.setStatus(departed.Subject, storage.StatusDeparted)
	c := code(t, seed, f.clock.Now())
	tests := []struct {
		name, subject string
		want          error
	}{
		{"not enrolled", plain.Subject, directory.ErrTOTPNotEnrolled},
		{"frozen", frozen.Subject, directory.ErrFrozen},
		{"departed", departed.Subject, directory.ErrDeparted},
		{"unknown subject", "no-such-subject", directory.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.dir.VerifyTOTP(ctx, tt.subject, c); !errors.Is(err, tt.want) {
				t.Errorf("VerifyTOTP = %v, want %v", err, tt.want)
			}
		})
	}
}

// A sealed seed is bound to its subject: copied onto another employee's
// row it does not open, and a different master key cannot open it.
func TestTOTPSeedSealedToSubject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.onboard(t, directory.Onboarding{TOTPSeed: seed})
	b := f.onboard(t, directory.Onboarding{})
	if got := string(a.TOTPSecret); got == seed || seal.SealedUnder(a.TOTPSecret) == "" {
		t.Fatalf("stored seed %q is not sealed", got)
	}
	bRow := f.mustByID(t, b.EmployeeID)
	bRow.TOTPSecret = f.mustByID(t, a.EmployeeID).TOTPSecret
	if err := f.store.UpdateEmployee(ctx, bRow); err != nil {
		t.Fatal(err)
	}
	err := f.dir.VerifyTOTP(ctx, b.Subject, code(t, seed, f.clock.Now()))
	if !errors.Is(err, seal.ErrOpen) {
		t.Errorf("VerifyTOTP with another subject's seed = %v, want seal.ErrOpen", err)
	}
}

func TestEnrolTOTP(t *testing.T) {
	f := newFixture(t, func(o *directory.Options) { o.TOTPIssuer = "ACME SSO" })
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})

	k, err := f.dir.NewTOTPKey(ctx, e.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != 32 { // 20 bytes in unpadded base32
		t.Errorf("secret %q is %d characters, want 32", k.Secret, len(k.Secret))
	}
	u, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/ACME SSO:"+e.EmployeeID ||
		q.Get("secret") != k.Secret || q.Get("issuer") != "ACME SSO" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("URL = %s", k.URL)
	}
	// Nothing is stored yet.
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, k.Secret, f.clock.Now())); !errors.Is(err, directory.ErrTOTPNotEnrolled) {
		t.Errorf("VerifyTOTP before enrolment = %v, want ErrTOTPNotEnrolled", err)
	}

	wrong := code(t, k.Secret, f.clock.Now().Add(-5*time.Minute))
	if err := f.dir.EnrolTOTP(ctx, e.Subject, k.Secret, wrong); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("EnrolTOTP with a wrong code = %v, want ErrBadCredentials", err)
	}
	var fe *directory.FieldError
	if err := f.dir.EnrolTOTP(ctx, e.Subject, "!!", "123456"); !errors.As(err, &fe) || err.Error() != "secret: is not valid base32" {
		t.Errorf("EnrolTOTP with a bad secret = %v, want a FieldError on secret", err)
	}

	c := code(t, k.Secret, f.clock.Now())
	if err := f.dir.EnrolTOTP(ctx, e.Subject, k.Secret, c); err != nil {
		t.Fatalf("EnrolTOTP = %v", err)
	}
	// The enrolment code's step is burned: it cannot sign in as well.
	if err := f.dir.VerifyTOTP(ctx, e.Subject, c); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("enrolment code reused = %v, want ErrBadCredentials", err)
	}
	f.clock.Add(30 * time.Second)
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, k.Secret, f.clock.Now())); err != nil {
		t.Errorf("VerifyTOTP after enrolment = %v", err)
	}

	// Knowing the password is not enough to replace the second factor.
	if _, err := f.dir.NewTOTPKey(ctx, e.Subject); !errors.Is(err, directory.ErrTOTPAlreadyEnrolled) {
		t.Errorf("NewTOTPKey when enrolled = %v, want ErrTOTPAlreadyEnrolled", err)
	}
	if err := f.dir.EnrolTOTP(ctx, e.Subject, seed, code(t, seed, f.clock.Now())); !errors.Is(err, directory.ErrTOTPAlreadyEnrolled) {
		t.Errorf("EnrolTOTP when enrolled = %v, want ErrTOTPAlreadyEnrolled", err)
	}

	// An administrative reset allows a new enrolment.
	if err := f.dir.ResetTOTP(ctx, e.Subject); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.VerifyTOTP(ctx, e.Subject, code(t, k.Secret, f.clock.Now())); !errors.Is(err, directory.ErrTOTPNotEnrolled) {
		t.Errorf("VerifyTOTP after reset = %v, want ErrTOTPNotEnrolled", err)
	}
	if _, err := f.dir.NewTOTPKey(ctx, e.Subject); err != nil {
		t.Errorf("NewTOTPKey after reset = %v", err)
	}
}

// Two enrolments racing on one employee: the loser sees a conflict (the
// version moved or the step was burned), never a silent overwrite.
func TestEnrolTOTPStaleVersion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	stale := &racingStore{fakeStore: f.store}
	d := directory.New(stale, f.sealer, directory.Options{Argon2: cheapArgon2, TOTPSkew: 1, Now: f.clock.Now})
	err := d.EnrolTOTP(ctx, e.Subject, seed, code(t, seed, f.clock.Now()))
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("EnrolTOTP losing a version race = %v, want ErrConflict", err)
	}
}

// racingStore bumps the employee's version between the directory's read
// and its write, as a concurrent admin edit would.
type racingStore struct{ *fakeStore }

func (s *racingStore) UpdateEmployee(ctx context.Context, e *storage.Employee) error {
	s.setStatus(e.Subject, storage.StatusActive) // bumps the version
	return s.fakeStore.UpdateEmployee(ctx, e)
}
