package backup

import (
	"fmt"
	"iter"
	"slices"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// MasterKeyError means the configured master key cannot open the sealed
// values of a backup: restored, those signing keys and TOTP seeds would
// be dead weight, and every sign-in with TOTP would fail.
type MasterKeyError struct {
	SealedUnder string // master-key ID of the value that did not open
	What        string // which value, e.g. "signing key k1" or "TOTP seed of HR012023001"
	Configured  string // the configured sealing key's ID
}

func (e *MasterKeyError) Error() string {
	return fmt.Sprintf("the backup's %s is sealed under master key %s, which the configured master key (%s) and "+
		"previous_master_keys cannot open: configure that key (master_key, or previous_master_keys and then "+
		"`gongpai keys rewrap`), or pass --ignore-master-key-mismatch to restore sealed values nobody can open",
		e.What, e.SealedUnder, e.Configured)
}

// MasterKeyCheck passes records through, opening the first sealed value
// under each master-key ID it meets with s (and throwing the plaintext
// away): a value s cannot open stops the stream with a *MasterKeyError. It
// opens at most one value per master key, so it costs nothing on a large
// directory.
//
// The additional data each value is bound to is the one its owner seals
// with: the kid for a signing key (package keys), "totp:" and the subject
// for a TOTP seed (package directory). The restore tests pin both against
// values those packages sealed.
func MasterKeyCheck(s *seal.Sealer, records iter.Seq2[storage.Record, error]) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		var opened []string
		for rec, err := range records {
			if err == nil {
				err = checkSealed(s, rec, &opened)
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

func checkSealed(s *seal.Sealer, rec storage.Record, opened *[]string) error {
	var sealed, aad []byte
	var what string
	switch r := rec.(type) {
	case *storage.SigningKey:
		sealed, aad, what = r.PrivateKey, []byte(r.ID), "signing key "+r.ID
	case *storage.Employee:
		sealed, aad, what = r.TOTPSecret, []byte("totp:"+r.Subject), "TOTP seed of "+r.EmployeeID
	default:
		return nil
	}
	if len(sealed) == 0 {
		return nil
	}
	id := seal.SealedUnder(sealed)
	if slices.Contains(*opened, id) && id != "" {
		return nil
	}
	pt, err := s.Open(sealed, aad)
	clear(pt)
	if err != nil {
		if id == "" {
			id = "(none: the value is not sealed)" // never show it: it could be a plaintext secret
		}
		return &MasterKeyError{SealedUnder: id, What: what, Configured: s.SealingKeyID()}
	}
	*opened = append(*opened, id)
	return nil
}
