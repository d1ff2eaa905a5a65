package directory

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters new hashes are made with.
// Stored hashes carry their own parameters, so changing these only affects
// hashes made from now on (and hashes upgraded at the next sign-in).
type Argon2Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2 is OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane).
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1}

const (
	saltLen = 16
	hashLen = 32

	// Bounds on what a stored hash may ask for, so that a corrupted or
	// planted row cannot make one sign-in allocate gigabytes.
	maxHashMemoryKiB = 1 << 20 // 1 GiB
	maxHashTime      = 64

	minPasswordLen = 10  // runes
	maxPasswordLen = 512 // bytes: long enough for any passphrase
)

// MinPasswordLength is the fewest characters (runes) a password may have.
const MinPasswordLength = minPasswordLen

// MaxPasswordBytes is the longest a password may be, in bytes.
const MaxPasswordBytes = maxPasswordLen

// The password rules a *FieldError's Rule names, so a page can say in its
// own language which one a password broke.
const (
	RulePasswordText       = "password_text"        // not valid UTF-8
	RulePasswordMinLength  = "password_min_length"  // fewer than MinPasswordLength characters
	RulePasswordMaxLength  = "password_max_length"  // more than MaxPasswordBytes bytes
	RulePasswordEmployeeID = "password_employee_id" // the employee ID itself
	RulePasswordUnchanged  = "password_unchanged"   // a change to the password the employee has now
)

// errBadPHC is wrapped by every parse error of a stored password hash.
var errBadPHC = errors.New("malformed argon2id hash")

// phc is a decoded "$argon2id$v=19$m=…,t=…,p=…$salt$hash" string.
type phc struct {
	params Argon2Params
	salt   []byte
	hash   []byte
}

func (p phc) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.params.MemoryKiB, p.params.Time, p.params.Threads,
		b64.EncodeToString(p.salt), b64.EncodeToString(p.hash))
}

// parsePHC decodes a PHC-formatted argon2id hash. It accepts only what
// hashPassword writes (argon2id, version 19) within sane cost bounds.
func parsePHC(s string) (phc, error) {
	fields := strings.Split(s, "$")
	// "" argon2id v=19 m=..,t=..,p=.. salt hash
	if len(fields) != 6 || fields[0] != "" {
		return phc{}, fmt.Errorf("%w: want 5 '$'-separated fields", errBadPHC)
	}
	if fields[1] != "argon2id" {
		return phc{}, fmt.Errorf("%w: algorithm %q, want argon2id", errBadPHC, fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("%w: version %q, want v=%d", errBadPHC, fields[2], argon2.Version)
	}
	var p phc
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(fields[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return phc{}, fmt.Errorf("%w: parameter %q", errBadPHC, kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phc{}, fmt.Errorf("%w: parameter %q is not a number", errBadPHC, kv)
		}
		switch k {
		case "m":
			p.params.MemoryKiB = uint32(n)
		case "t":
			p.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, fmt.Errorf("%w: parallelism %d above 255", errBadPHC, n)
			}
			p.params.Threads = uint8(n)
		default:
			return phc{}, fmt.Errorf("%w: unknown parameter %q", errBadPHC, k)
		}
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return phc{}, fmt.Errorf("%w: want m, t and p parameters, got %q", errBadPHC, fields[3])
	}
	switch pr := p.params; {
	case pr.Time < 1 || pr.Time > maxHashTime:
		return phc{}, fmt.Errorf("%w: t=%d outside 1–%d", errBadPHC, pr.Time, maxHashTime)
	case pr.Threads < 1:
		return phc{}, fmt.Errorf("%w: p=0", errBadPHC)
	case pr.MemoryKiB < 8*uint32(pr.Threads) || pr.MemoryKiB > maxHashMemoryKiB:
		return phc{}, fmt.Errorf("%w: m=%d outside %d–%d", errBadPHC, pr.MemoryKiB, 8*uint32(pr.Threads), maxHashMemoryKiB)
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(fields[4]); err != nil || len(p.salt) < 8 {
		return phc{}, fmt.Errorf("%w: salt is not base64 of at least 8 bytes", errBadPHC)
	}
	if p.hash, err = base64.RawStdEncoding.DecodeString(fields[5]); err != nil || len(p.hash) < 16 || len(p.hash) > 64 {
		return phc{}, fmt.Errorf("%w: hash is not base64 of 16–64 bytes", errBadPHC)
	}
	return p, nil
}

// hasher computes argon2id hashes, at most cap(sem) at a time: each one
// holds MemoryKiB of RAM, so unbounded concurrency is a memory DoS.
type hasher struct {
	params Argon2Params
	sem    chan struct{}
	rand   io.Reader
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// hash makes a new PHC string for password under h.params.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("directory: reading salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := phc{params: h.params, salt: salt}
	p.hash = argon2.IDKey([]byte(password), salt, p.params.Time, p.params.MemoryKiB, p.params.Threads, hashLen)
	return p.String(), nil
}

// verify reports whether password matches the stored PHC string, and
// whether the stored hash should be remade under the current parameters.
func (h *hasher) verify(ctx context.Context, password, stored string) (ok, stale bool, err error) {
	p, err := parsePHC(stored)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), p.salt, p.params.Time, p.params.MemoryKiB, p.params.Threads, uint32(len(p.hash)))
	ok = subtle.ConstantTimeCompare(got, p.hash) == 1
	stale = p.params != h.params || len(p.salt) != saltLen || len(p.hash) != hashLen
	return ok, stale, nil
}

// checkPasswordPolicy is the minimal onboarding policy: long enough, not
// absurdly long, and not the employee ID (the first thing anyone tries).
func checkPasswordPolicy(password, employeeID string) error {
	return checkPasswordField("password", password, employeeID)
}

// checkPasswordField is checkPasswordPolicy for an input named field.
func checkPasswordField(field, password, employeeID string) error {
	switch {
	case !utf8.ValidString(password):
		return &FieldError{Field: field, Message: "is not valid UTF-8", Rule: RulePasswordText}
	case utf8.RuneCountInString(password) < minPasswordLen:
		return &FieldError{Field: field, Message: fmt.Sprintf("must be at least %d characters", minPasswordLen), Rule: RulePasswordMinLength}
	case len(password) > maxPasswordLen:
		return &FieldError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", maxPasswordLen), Rule: RulePasswordMaxLength}
	case employeeID != "" && strings.EqualFold(strings.TrimSpace(password), employeeID):
		return &FieldError{Field: field, Message: "must not be the employee ID", Rule: RulePasswordEmployeeID}
	}
	return nil
}

// errUnchanged is the policy's answer to a "change" to the same password.
func errUnchanged(field string) error {
	return &FieldError{Field: field, Message: "must differ from the current password", Rule: RulePasswordUnchanged}
}
