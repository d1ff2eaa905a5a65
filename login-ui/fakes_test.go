package loginui_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gongpai/gongpai/directory"
	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/storage"
)

// clock is a fake, settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const callbackBase = "https://idp.test/authorize/callback?id="

// fakeOP stands in for *op.Provider.
type fakeOP struct {
	mu        sync.Mutex
	reqs      map[string]*storage.AuthRequest
	clients   map[string]*storage.Client
	completed map[string]storage.AuthResult
	logouts   map[string]*loginui.LogoutRequest
}

func (f *fakeOP) AuthRequest(_ context.Context, id string) (*storage.AuthRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := *r
	return &c, nil
}

func (f *fakeOP) Client(_ context.Context, id string) (*storage.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func (f *fakeOP) Complete(_ context.Context, id string, res storage.AuthResult) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.reqs[id]; !ok {
		return "", storage.ErrNotFound
	}
	f.completed[id] = res
	return callbackBase + url.QueryEscape(id), nil
}

func (f *fakeOP) ErrorRedirect(_ context.Context, id, oauthErr, description string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	if !ok {
		return "", storage.ErrNotFound
	}
	delete(f.reqs, id)
	return r.RedirectURI + "?" + url.Values{"error": {oauthErr}, "error_description": {description}, "state": {r.State}}.Encode(), nil
}

func (f *fakeOP) OpenLogoutRequest(lr string) (*loginui.LogoutRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.logouts[lr]
	if !ok {
		return nil, errors.New("fake: bad logout request")
	}
	c := *r
	return &c, nil
}

func (f *fakeOP) result(id string) (storage.AuthResult, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.completed[id]
	return r, ok
}

// goodCode is the one TOTP code the fake directory accepts (once per
// subject, like the real one per time step).
const goodCode = "123456"

const fakeSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// fakeDir stands in for *directory.Directory.
type fakeDir struct {
	mu        sync.Mutex
	byID      map[string]*storage.Employee
	passwords map[string]string // employee ID -> password
	used      map[string]bool   // subject+code already used
	identity  map[string]*storage.Identity
	changes   int // passwords changed through ChangePasswordAtSignIn
}

func (d *fakeDir) CheckPassword(_ context.Context, employeeID, password string) (*storage.Employee, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := storage.CanonicalCode(employeeID)
	e, ok := d.byID[id]
	if !ok || d.passwords[id] != password {
		return nil, directory.ErrBadCredentials
	}
	switch e.Status {
	case storage.StatusFrozen:
		return nil, directory.ErrFrozen
	case storage.StatusDeparted:
		return nil, directory.ErrDeparted
	}
	c := d.withHash(e)
	return &c, nil
}

// withHash is e as the directory hands it out, with a PasswordHash that
// stands for the current password (so PasswordStamp changes with it).
func (d *fakeDir) withHash(e *storage.Employee) storage.Employee {
	c := *e
	c.PasswordHash = "fake$" + d.passwords[e.EmployeeID]
	return c
}

// ChangePasswordAtSignIn keeps directory's contract: the stamp must be
// the current password's, the employee active, and the new password at
// least 10 characters, not the employee ID, not the current password.
func (d *fakeDir) ChangePasswordAtSignIn(_ context.Context, subject, stamp, newPassword string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.bySubject(subject)
	if e == nil {
		return storage.ErrNotFound
	}
	if c := d.withHash(e); directory.PasswordStamp(&c) != stamp {
		return directory.ErrPasswordStale
	}
	if _, err := d.active(subject); err != nil {
		return err
	}
	rule := ""
	switch {
	case utf8.RuneCountInString(newPassword) < directory.MinPasswordLength:
		rule = directory.RulePasswordMinLength
	case strings.EqualFold(newPassword, e.EmployeeID):
		rule = directory.RulePasswordEmployeeID
	case newPassword == d.passwords[e.EmployeeID]:
		rule = directory.RulePasswordUnchanged
	}
	if rule != "" {
		return &directory.FieldError{Field: "new_password", Message: "breaks " + rule, Rule: rule}
	}
	d.passwords[e.EmployeeID] = newPassword
	e.PasswordChangeRequired = false
	d.changes++
	return nil
}

// setPassword is an administrator's reset: the password changes and
// must be changed again at the next sign-in.
func (d *fakeDir) setPassword(employeeID, password string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.passwords[employeeID] = password
	d.byID[employeeID].PasswordChangeRequired = true
}

func (d *fakeDir) password(employeeID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passwords[employeeID], d.byID[employeeID].PasswordChangeRequired
}

func (d *fakeDir) bySubject(sub string) *storage.Employee {
	for _, e := range d.byID {
		if e.Subject == sub {
			return e
		}
	}
	return nil
}

// active mirrors directory: a freeze takes effect between steps too.
func (d *fakeDir) active(subject string) (*storage.Employee, error) {
	e := d.bySubject(subject)
	switch {
	case e == nil:
		return nil, directory.ErrBadCredentials
	case e.Status == storage.StatusFrozen:
		return nil, directory.ErrFrozen
	case e.Status == storage.StatusDeparted:
		return nil, directory.ErrDeparted
	}
	return e, nil
}

func (d *fakeDir) VerifyTOTP(_ context.Context, subject, code string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.active(subject)
	if err != nil {
		return err
	}
	if e.TOTPSecret == nil {
		return directory.ErrTOTPNotEnrolled
	}
	if code != goodCode || d.used[subject+code] {
		return directory.ErrBadCredentials
	}
	d.used[subject+code] = true
	return nil
}

func (d *fakeDir) NewTOTPKey(_ context.Context, subject string) (*directory.TOTPEnrolment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.active(subject)
	if err != nil {
		return nil, err
	}
	if e.TOTPSecret != nil {
		return nil, directory.ErrTOTPAlreadyEnrolled
	}
	return &directory.TOTPEnrolment{
		Secret: fakeSecret,
		URL:    "otpauth://totp/gongpai:" + e.EmployeeID + "?issuer=gongpai&secret=" + fakeSecret,
	}, nil
}

func (d *fakeDir) EnrolTOTP(_ context.Context, subject, secret, code string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.active(subject)
	if err != nil {
		return err
	}
	if e.TOTPSecret != nil {
		return directory.ErrTOTPAlreadyEnrolled
	}
	if secret != fakeSecret || code != goodCode || d.used[subject+code] {
		return directory.ErrBadCredentials
	}
	d.used[subject+code] = true
	e.TOTPSecret = []byte("sealed:" + secret)
	return nil
}

func (d *fakeDir) Employee(_ context.Context, subject string) (*storage.Employee, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.bySubject(subject)
	if e == nil {
		return nil, storage.ErrNotFound
	}
	c := d.withHash(e)
	return &c, nil
}

func (d *fakeDir) Identity(_ context.Context, subject string) (*storage.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.identity[subject]; ok {
		c := *id
		return &c, nil
	}
	e := d.bySubject(subject)
	if e == nil {
		return nil, storage.ErrNotFound
	}
	return &storage.Identity{Subject: e.Subject, EmployeeID: e.EmployeeID, Status: e.Status}, nil
}

func (d *fakeDir) setTOTP(employeeID string, secret []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID[employeeID].TOTPSecret = secret
}

func (d *fakeDir) setStatus(employeeID string, s storage.EmployeeStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID[employeeID].Status = s
}

// fakeSessions stands in for the ephemeral store's sessions.
type fakeSessions struct {
	mu sync.Mutex
	m  map[string]storage.Session
}

func (s *fakeSessions) CreateSession(_ context.Context, sess *storage.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[sess.ID]; ok {
		return storage.ErrConflict
	}
	s.m[sess.ID] = *sess
	return nil
}

func (s *fakeSessions) Session(_ context.Context, id string) (*storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	sess.AMR = slices.Clone(sess.AMR)
	sess.ClientIDs = slices.Clone(sess.ClientIDs)
	return &sess, nil
}

func (s *fakeSessions) AddSessionClient(_ context.Context, id, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	if !ok {
		return storage.ErrNotFound
	}
	if !slices.Contains(sess.ClientIDs, clientID) {
		sess.ClientIDs = append(slices.Clone(sess.ClientIDs), clientID)
	}
	s.m[id] = sess
	return nil
}

func (s *fakeSessions) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.m, id)
	return nil
}

func (s *fakeSessions) all() []storage.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Session
	for _, v := range s.m {
		out = append(out, v)
	}
	return out
}

// fakeLimiter counts hits; windows never roll over in tests.
type fakeLimiter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (l *fakeLimiter) Hit(_ context.Context, key string, _ time.Duration) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[key]++
	return l.m[key], nil
}

func (l *fakeLimiter) ResetHits(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
	return nil
}

// The fakes must keep satisfying the package's interfaces.
var (
	_ loginui.AuthRequests  = (*fakeOP)(nil)
	_ loginui.Authenticator = (*fakeDir)(nil)
	_ loginui.SessionStore  = (*fakeSessions)(nil)
	_ loginui.Limiter       = (*fakeLimiter)(nil)
)
