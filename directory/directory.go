// Package directory is the company as gongpai knows it: legal entities,
// department trees, employees and roles, employee-ID rules, and the
// credentials (argon2id passwords, TOTP seeds) employees sign in with.
package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// Store is the slice of storage the directory uses: the durable directory
// tables plus the ephemeral TOTP-step record. *sqlite.Store satisfies it.
type Store interface {
	CreateEntity(ctx context.Context, e *storage.LegalEntity) error
	Entity(ctx context.Context, code string) (*storage.LegalEntity, error)

	CreateDepartment(ctx context.Context, d *storage.Department) error
	Department(ctx context.Context, id string) (*storage.Department, error)
	DepartmentByCode(ctx context.Context, entity, code string) (*storage.Department, error)

	CreateEmployee(ctx context.Context, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) error
	Employee(ctx context.Context, subject string) (*storage.Employee, error)
	EmployeeByEmployeeID(ctx context.Context, employeeID string) (*storage.Employee, error)
	UpdateEmployee(ctx context.Context, e *storage.Employee) error

	GrantRole(ctx context.Context, g *storage.RoleGrant) error
	RoleGrants(ctx context.Context, subject string) ([]storage.RoleGrant, error)

	UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error
}

// Options configure a Directory. Zero fields take the documented defaults.
type Options struct {
	Argon2              Argon2Params // zero fields take DefaultArgon2's
	MaxConcurrentHashes int          // argon2 hashes in flight; 0 = runtime.NumCPU()
	TOTPIssuer          string       // shown in authenticator apps; "" = "gongpai"
	// TOTPSkew is how many 30 s steps either side of now are accepted.
	// Zero means exactly zero (no tolerance), not a default, so that a
	// configured skew of 0 is honoured; config's default is 1.
	TOTPSkew uint
	Now      func() time.Time
	Logger   *slog.Logger
	// Rand is the randomness for salts and TOTP seeds; nil = crypto/rand.
	// Tests may make it deterministic; production leaves it nil.
	Rand io.Reader
}

// Directory is the employee directory and the credential checks on it.
// It is safe for concurrent use.
type Directory struct {
	store  Store
	sealer *seal.Sealer
	hasher *hasher
	issuer string
	skew   uint
	now    func() time.Time
	log    *slog.Logger
	rand   io.Reader

	// dummyHash is a real hash of a random password under the current
	// parameters, verified against for unknown employee IDs so that a
	// miss costs the same as a wrong password. Made on first use.
	dummyHash func() (string, error)
}

// New returns a Directory over store. sealer seals and opens TOTP seeds.
func New(store Store, sealer *seal.Sealer, o Options) *Directory {
	// Field by field: argon2 panics on zero threads, so a partly filled
	// Argon2Params must not reach it.
	if o.Argon2.Time == 0 {
		o.Argon2.Time = DefaultArgon2.Time
	}
	if o.Argon2.MemoryKiB == 0 {
		o.Argon2.MemoryKiB = DefaultArgon2.MemoryKiB
	}
	if o.Argon2.Threads == 0 {
		o.Argon2.Threads = DefaultArgon2.Threads
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = runtime.NumCPU()
	}
	if o.TOTPIssuer == "" {
		o.TOTPIssuer = "gongpai"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	d := &Directory{
		store:  store,
		sealer: sealer,
		hasher: &hasher{params: o.Argon2, sem: make(chan struct{}, o.MaxConcurrentHashes), rand: o.Rand},
		issuer: o.TOTPIssuer,
		skew:   o.TOTPSkew,
		now:    o.Now,
		log:    o.Logger,
		rand:   o.Rand,
	}
	d.dummyHash = sync.OnceValues(func() (string, error) {
		pw := make([]byte, 32)
		if _, err := io.ReadFull(d.rand, pw); err != nil {
			return "", err
		}
		// Background context: the result is shared by every later caller,
		// so one caller's cancellation must not poison it.
		return d.hasher.hash(context.Background(), string(pw))
	})
	return d
}

// Employee returns the employee with this subject.
func (d *Directory) Employee(ctx context.Context, subject string) (*storage.Employee, error) {
	return d.store.Employee(ctx, subject)
}

// maxDepartmentDepth bounds the walk up a department tree so that a
// corrupted parent cycle is an error, not a hang.
const maxDepartmentDepth = 64

// Identity returns the employee with their entity, department path and
// roles, as the claims mapper needs them.
func (d *Directory) Identity(ctx context.Context, subject string) (*storage.Identity, error) {
	e, err := d.store.Employee(ctx, subject)
	if err != nil {
		return nil, err
	}
	id := &storage.Identity{
		Subject:    e.Subject,
		EmployeeID: e.EmployeeID,
		Name:       e.Name,
		Email:      e.Email,
		Title:      e.Title,
		Status:     e.Status,
		Entity:     e.Entity,
	}
	if e.DepartmentID != "" {
		dept, err := d.store.Department(ctx, e.DepartmentID)
		if err != nil {
			return nil, fmt.Errorf("directory: department of %s: %w", e.EmployeeID, err)
		}
		id.Department, id.DepartmentName = dept.Code, dept.Name
		for cur := dept; ; {
			id.DepartmentPath = append(id.DepartmentPath, cur.Code)
			id.DepartmentIDs = append(id.DepartmentIDs, cur.ID)
			if cur.ParentID == "" {
				break
			}
			if len(id.DepartmentIDs) >= maxDepartmentDepth {
				return nil, fmt.Errorf("directory: department %s is more than %d levels deep (a parent cycle?)", dept.Code, maxDepartmentDepth)
			}
			if cur, err = d.store.Department(ctx, cur.ParentID); err != nil {
				return nil, fmt.Errorf("directory: parent department of %s: %w", dept.Code, err)
			}
		}
		slices.Reverse(id.DepartmentPath)
		slices.Reverse(id.DepartmentIDs)
	}
	if id.EmailVerified, err = d.emailUnique(ctx, e); err != nil {
		return nil, err
	}
	grants, err := d.store.RoleGrants(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		id.Roles = append(id.Roles, g.Role)
	}
	slices.Sort(id.Roles)
	id.Roles = slices.Compact(id.Roles)
	return id, nil
}

// CheckPassword authenticates an employee ID and password.
//
// An unknown ID and a wrong password are both ErrBadCredentials, and an
// unknown ID still costs one argon2 verification, so neither the answer
// nor its timing says whether the ID exists. ErrFrozen and ErrDeparted
// come only after the password was right. A hash made under older
// parameters is upgraded on success.
func (d *Directory) CheckPassword(ctx context.Context, employeeID, password string) (*storage.Employee, error) {
	e, err := d.store.EmployeeByEmployeeID(ctx, storage.CanonicalCode(employeeID))
	if err == nil && e.PasswordHash == "" {
		// Imported without a password: nothing can match until an
		// administrator sets one. Answer exactly as for an unknown ID.
		err = storage.ErrNotFound
	}
	if errors.Is(err, storage.ErrNotFound) {
		dummy, derr := d.dummyHash()
		if derr != nil {
			return nil, fmt.Errorf("directory: making dummy hash: %w", derr)
		}
		if _, _, verr := d.hasher.verify(ctx, password, dummy); verr != nil {
			return nil, verr
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, stale, err := d.hasher.verify(ctx, password, e.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("directory: password hash of %s: %w", e.EmployeeID, err)
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	switch e.Status {
	case storage.StatusFrozen:
		return nil, ErrFrozen
	case storage.StatusDeparted:
		return nil, ErrDeparted
	case storage.StatusActive:
	default:
		return nil, fmt.Errorf("directory: employee %s has unknown status %q", e.EmployeeID, e.Status)
	}
	if stale {
		d.rehash(ctx, e, password)
	}
	return e, nil
}

// rehash stores password under the current parameters. It is best effort:
// a failure (say a concurrent update won the version race) leaves the old,
// still valid hash, and the next sign-in tries again.
func (d *Directory) rehash(ctx context.Context, e *storage.Employee, password string) {
	h, err := d.hasher.hash(ctx, password)
	if err != nil {
		d.log.WarnContext(ctx, "password rehash failed", "employee_id", e.EmployeeID, "error", err)
		return
	}
	next := *e
	next.PasswordHash = h
	next.UpdatedAt = d.now().UTC()
	if err := d.store.UpdateEmployee(ctx, &next); err != nil {
		d.log.WarnContext(ctx, "password rehash not stored", "employee_id", e.EmployeeID, "error", err)
		return
	}
	*e = next
}

// SetPassword replaces an employee's password after checking it against
// the password policy. ErrConflict (wrapped) when the employee changed
// concurrently.
func (d *Directory) SetPassword(ctx context.Context, subject, password string) error {
	e, err := d.store.Employee(ctx, subject)
	if err != nil {
		return err
	}
	if err := checkPasswordPolicy(password, e.EmployeeID); err != nil {
		return err
	}
	h, err := d.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	e.PasswordHash = h
	e.UpdatedAt = d.now().UTC()
	if err := d.store.UpdateEmployee(ctx, e); err != nil {
		return fmt.Errorf("directory: storing password of %s: %w", e.EmployeeID, err)
	}
	return nil
}

// PasswordStamp identifies the password e has now without revealing it:
// a digest of the subject and the stored hash. The sign-in pages keep it
// (sealed) between the password step and a required password change, so
// that ChangePasswordAtSignIn knows the password they checked is still
// the employee's.
func PasswordStamp(e *storage.Employee) string {
	h := sha256.New()
	h.Write([]byte("gongpai password stamp\x00"))
	h.Write([]byte(e.Subject))
	h.Write([]byte{0})
	h.Write([]byte(e.PasswordHash))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CredentialStamp identifies both credentials e has now — the password
// hash and the sealed TOTP seed — without revealing them. A sign-in keeps
// the stamp from its password step and is abandoned when it changes, so a
// password or TOTP reset by HR also ends every sign-in already past the
// password (else whoever typed the old password could still enrol their
// own authenticator).
func CredentialStamp(e *storage.Employee) string {
	h := sha256.New()
	h.Write([]byte("gongpai credential stamp\x00"))
	h.Write([]byte(e.Subject))
	h.Write([]byte{0})
	h.Write([]byte(e.PasswordHash))
	h.Write([]byte{0})
	h.Write(e.TOTPSecret)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ChangePassword is an employee choosing a new password: current must be
// their password now (ErrBadCredentials otherwise), they must be active
// (ErrFrozen, ErrDeparted — told only after the right password), and
// newPassword must keep the policy: at least MinPasswordLength
// characters, not the employee ID, not the current password (a
// *FieldError on "new_password" whose Rule names the rule). It clears
// PasswordChangeRequired and bumps the version; an employee who changed
// concurrently wraps storage.ErrConflict.
func (d *Directory) ChangePassword(ctx context.Context, subject, current, newPassword string) error {
	e, err := d.store.Employee(ctx, subject)
	if err != nil {
		return err
	}
	if e.PasswordHash == "" {
		return ErrBadCredentials
	}
	ok, _, err := d.hasher.verify(ctx, current, e.PasswordHash)
	if err != nil {
		return fmt.Errorf("directory: password hash of %s: %w", e.EmployeeID, err)
	}
	if !ok {
		return ErrBadCredentials
	}
	if err := activeStatus(e); err != nil {
		return err
	}
	if err := checkPasswordField("new_password", newPassword, e.EmployeeID); err != nil {
		return err
	}
	if newPassword == current {
		return errUnchanged("new_password")
	}
	h, err := d.hasher.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	return d.storeOwnPassword(ctx, e, h)
}

// ChangePasswordAtSignIn is ChangePassword for the sign-in pages, which
// checked the current password a few steps earlier (and the second factor
// since): stamp, the PasswordStamp of the employee CheckPassword returned,
// stands in for it. ErrPasswordStale when the password is no longer the
// one checked (changed in another tab, reset by an administrator): the
// sign-in must start over. The policy is ChangePassword's; the "not the
// current password" rule costs one more hash verification here.
func (d *Directory) ChangePasswordAtSignIn(ctx context.Context, subject, stamp, newPassword string) error {
	e, err := d.store.Employee(ctx, subject)
	if err != nil {
		return err
	}
	if e.PasswordHash == "" || subtle.ConstantTimeCompare([]byte(PasswordStamp(e)), []byte(stamp)) != 1 {
		return ErrPasswordStale
	}
	if err := activeStatus(e); err != nil {
		return err
	}
	if err := checkPasswordField("new_password", newPassword, e.EmployeeID); err != nil {
		return err
	}
	same, _, err := d.hasher.verify(ctx, newPassword, e.PasswordHash)
	if err != nil {
		return fmt.Errorf("directory: password hash of %s: %w", e.EmployeeID, err)
	}
	if same {
		return errUnchanged("new_password")
	}
	h, err := d.hasher.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := d.storeOwnPassword(ctx, e, h)
		if !errors.Is(err, storage.ErrConflict) || attempt >= maxRetries {
			return err
		}
		// Lost a version race to another write (an HR edit, say): go on
		// only if the password is still the one this sign-in checked.
		if e, err = d.store.Employee(ctx, subject); err != nil {
			return err
		}
		if PasswordStamp(e) != stamp {
			return ErrPasswordStale
		}
		if err := activeStatus(e); err != nil {
			return err
		}
	}
}

// activeStatus is ErrFrozen or ErrDeparted for an employee who may not
// sign in, nil for an active one.
func activeStatus(e *storage.Employee) error {
	switch e.Status {
	case storage.StatusActive:
		return nil
	case storage.StatusFrozen:
		return ErrFrozen
	case storage.StatusDeparted:
		return ErrDeparted
	default:
		return fmt.Errorf("directory: employee %s has unknown status %q", e.EmployeeID, e.Status)
	}
}

// employeeWriter is the store method that writes an employee together
// with an audit event; every storage.Store has it.
type employeeWriter interface {
	WriteEmployees(ctx context.Context, ws []storage.EmployeeWrite) error
}

// storeOwnPassword writes hash as the password e chose themselves: the
// change-required flag is cleared, the version bumped (compare-and-swap
// on e.Version), and, when the store keeps an audit trail, the change is
// recorded with the employee as the actor. e is updated on success.
func (d *Directory) storeOwnPassword(ctx context.Context, e *storage.Employee, hash string) error {
	next := *e
	next.PasswordHash = hash
	next.PasswordChangeRequired = false
	next.UpdatedAt = d.now().UTC()
	var err error
	if wr, ok := d.store.(employeeWriter); ok {
		ev := &storage.AuditEvent{
			ID: uuid.NewString(), At: next.UpdatedAt, Actor: "employee:" + e.EmployeeID,
			Action: "employee.change_password", Target: e.EmployeeID,
		}
		detail, _ := json.Marshal(map[string]string{"sub": e.Subject}) // a map of strings cannot fail
		ev.Detail = string(detail)
		err = wr.WriteEmployees(ctx, []storage.EmployeeWrite{{Employee: &next, Audit: ev}})
	} else {
		err = d.store.UpdateEmployee(ctx, &next)
	}
	if err != nil {
		return fmt.Errorf("directory: storing the new password of %s: %w", e.EmployeeID, err)
	}
	*e = next
	d.log.InfoContext(ctx, "password changed by the employee", "employee_id", e.EmployeeID, "sub", e.Subject)
	return nil
}
