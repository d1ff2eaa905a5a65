package directory

import (
	"context"

	"github.com/gongpai/gongpai/storage"
)

// emailSearcher is the part of every durable store (storage.DirectoryAdmin)
// that finds employees by e-mail address.
type emailSearcher interface {
	SearchEmployees(ctx context.Context, q storage.EmployeeQuery) (*storage.EmployeePage, error)
}

// emailUnique reports whether e's address is theirs alone: set, and held
// by no other employee who has not left, ignoring case. Addresses are not
// unique in the directory (HR feeds carry shared and recycled mailboxes;
// a unique index would refuse existing installs), so the email_verified
// claim is true only when this holds: an app that links accounts by
// e-mail must never be handed an address that also names someone else.
// A store that cannot search (test fakes) verifies nothing.
func (d *Directory) emailUnique(ctx context.Context, e *storage.Employee) (bool, error) {
	if e.Email == "" {
		return false, nil
	}
	es, ok := d.store.(emailSearcher)
	if !ok {
		return false, nil
	}
	page, err := es.SearchEmployees(ctx, storage.EmployeeQuery{Email: e.Email, NotDeparted: true, Limit: 2})
	if err != nil {
		return false, err
	}
	for _, other := range page.Employees {
		if other.Subject != e.Subject {
			return false, nil
		}
	}
	return page.Total <= 1, nil
}
