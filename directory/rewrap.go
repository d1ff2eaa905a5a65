package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// SeedStore is what RewrapTOTPSeeds needs of the store.
type SeedStore interface {
	ListEmployees(ctx context.Context) ([]storage.Employee, error)
	Employee(ctx context.Context, subject string) (*storage.Employee, error)
	UpdateEmployee(ctx context.Context, e *storage.Employee) error
}

// RewrapTOTPSeeds re-seals every TOTP seed that is not yet sealed under
// to's sealing key (a master-key change, `gongpai keys rewrap`). to must
// also open the current seals (seal.Sealer.WithSealingKey). Each write is
// a compare-and-swap on the employee's version; one that loses to a
// concurrent change (an enrolment) re-reads and tries again. It returns
// how many seeds were re-sealed.
func RewrapTOTPSeeds(ctx context.Context, st SeedStore, to *seal.Sealer) (int, error) {
	es, err := st.ListEmployees(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range es {
		e := &es[i]
		for attempt := 0; ; attempt++ {
			if len(e.TOTPSecret) == 0 || seal.SealedUnder(e.TOTPSecret) == to.SealingKeyID() {
				break
			}
			seed, err := to.Open(e.TOTPSecret, totpAAD(e.Subject))
			if err != nil {
				return n, fmt.Errorf("directory: TOTP seed of %s (sealed under master key %q) does not open: %w",
					e.EmployeeID, seal.SealedUnder(e.TOTPSecret), err)
			}
			sealed, err := to.Seal(seed, totpAAD(e.Subject))
			clear(seed)
			if err != nil {
				return n, err
			}
			upd := *e
			upd.TOTPSecret = sealed
			err = st.UpdateEmployee(ctx, &upd)
			if errors.Is(err, storage.ErrConflict) && attempt < 3 {
				if e, err = st.Employee(ctx, e.Subject); err != nil {
					return n, err
				}
				continue
			}
			if err != nil {
				return n, fmt.Errorf("directory: re-seal TOTP seed of %s: %w", e.EmployeeID, err)
			}
			n++
			break
		}
	}
	return n, nil
}
