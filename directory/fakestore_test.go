package directory_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// fakeStore is an in-memory directory.Store that keeps the storage
// contracts the directory relies on: canonical codes, ErrNotFound,
// ErrConflict on duplicates and stale versions, gap-free sequences, and
// UseTOTPStep's "greater than the last step" rule with a TTL.
type fakeStore struct {
	mu        sync.Mutex
	now       func() time.Time
	entities  map[string]storage.LegalEntity
	depts     map[string]storage.Department // by ID
	employees map[string]storage.Employee   // by subject
	seqs      map[string]int64
	grants    map[string][]storage.RoleGrant
	steps     map[string]usedStep
}

type usedStep struct {
	step    int64
	expires time.Time
}

var _ directory.Store = (*fakeStore)(nil)

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{
		now:       now,
		entities:  map[string]storage.LegalEntity{},
		depts:     map[string]storage.Department{},
		employees: map[string]storage.Employee{},
		seqs:      map[string]int64{},
		grants:    map[string][]storage.RoleGrant{},
		steps:     map[string]usedStep{},
	}
}

func (s *fakeStore) CreateEntity(_ context.Context, e *storage.LegalEntity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entities[e.Code]; ok {
		return storage.ErrConflict
	}
	s.entities[e.Code] = *e
	return nil
}

func (s *fakeStore) Entity(_ context.Context, code string) (*storage.LegalEntity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[storage.CanonicalCode(code)]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &e, nil
}

func (s *fakeStore) CreateDepartment(_ context.Context, d *storage.Department) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.depts {
		if o.ID == d.ID || (o.Entity == d.Entity && o.Code == d.Code) {
			return storage.ErrConflict
		}
	}
	s.depts[d.ID] = *d
	return nil
}

func (s *fakeStore) Department(_ context.Context, id string) (*storage.Department, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.depts[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &d, nil
}

func (s *fakeStore) DepartmentByCode(_ context.Context, entity, code string) (*storage.Department, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.depts {
		if d.Entity == storage.CanonicalCode(entity) && d.Code == storage.CanonicalCode(code) {
			return &d, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *fakeStore) CreateEmployee(_ context.Context, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	if e.EmployeeID == "" {
		n = s.seqs[seqKey] + 1
		id, err := makeID(n)
		if err != nil {
			return err // the sequence does not advance: the "transaction" rolled back
		}
		e.EmployeeID = id
	}
	for _, o := range s.employees {
		if o.Subject == e.Subject || o.EmployeeID == e.EmployeeID {
			if n != 0 {
				e.EmployeeID = ""
			}
			return storage.ErrConflict
		}
	}
	if n != 0 {
		s.seqs[seqKey] = n
	}
	e.Version = 1
	c := *e
	c.TOTPSecret = slices.Clone(e.TOTPSecret)
	s.employees[e.Subject] = c
	return nil
}

func (s *fakeStore) Employee(_ context.Context, subject string) (*storage.Employee, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.employees[subject]
	if !ok {
		return nil, storage.ErrNotFound
	}
	e.TOTPSecret = slices.Clone(e.TOTPSecret)
	return &e, nil
}

func (s *fakeStore) EmployeeByEmployeeID(_ context.Context, employeeID string) (*storage.Employee, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.employees {
		if e.EmployeeID == storage.CanonicalCode(employeeID) {
			e.TOTPSecret = slices.Clone(e.TOTPSecret)
			return &e, nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *fakeStore) UpdateEmployee(_ context.Context, e *storage.Employee) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.employees[e.Subject]
	if !ok {
		return storage.ErrNotFound
	}
	if old.Version != e.Version {
		return storage.ErrConflict
	}
	e.Version++
	c := *e
	c.TOTPSecret = slices.Clone(e.TOTPSecret)
	s.employees[e.Subject] = c
	return nil
}

func (s *fakeStore) GrantRole(_ context.Context, g *storage.RoleGrant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.grants[g.Subject] {
		if o.Role == g.Role && o.DepartmentID == g.DepartmentID {
			return nil
		}
	}
	s.grants[g.Subject] = append(s.grants[g.Subject], *g)
	return nil
}

func (s *fakeStore) RoleGrants(_ context.Context, subject string) ([]storage.RoleGrant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grants[subject]), nil
}

func (s *fakeStore) UseTOTPStep(_ context.Context, subject string, step int64, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if u, ok := s.steps[subject]; ok && now.Before(u.expires) && step <= u.step {
		return storage.ErrConflict
	}
	s.steps[subject] = usedStep{step: step, expires: now.Add(ttl)}
	return nil
}

// setStatus changes an employee's status behind the directory's back, as
// the lifecycle code (not written yet) will.
func (s *fakeStore) setStatus(subject string, st storage.EmployeeStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.employees[subject]
	e.Status = st
	e.Version++
	s.employees[subject] = e
}
