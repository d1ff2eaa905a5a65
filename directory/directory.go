// Package directory is the company as gongpai knows it: legal entities,
// department trees, employees and roles, employee-ID rules, and the
// credentials (argon2id passwords, TOTP seeds) employees sign in with.
package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

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
