package backup

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/gongpai/gongpai/seal"
)

// A backup file is authenticated with an HMAC-SHA-256 under a key derived
// from the master key (MACKey), so that only someone holding the master
// key can write a file restore accepts. The SHA-256 of the trailer only
// detects damage: anyone can recompute it after adding a role grant or a
// service account with service_roles admin. The MAC covers the header
// (as json.Marshal writes it) and every record in file order, in the
// encoding the SHA-256 covers; the trailer's counts and sealed_under are
// derived from the records and checked against them, so they are covered
// too. Restore tries the MAC key of every configured master key
// (master_key and previous_master_keys).

// macLabel is the derivation input and the MAC's domain separation.
const macLabel = "gongpai-backup-mac"

// MACKey derives the backup-authentication key from a master key:
// HMAC-SHA-256(master, "gongpai-backup-mac"). The master key itself never
// keys anything but sealing.
func MACKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(macLabel))
	return m.Sum(nil)
}

// IntegrityError means a backup's MAC does not verify: it was altered
// after it was written (by someone without the master key), it was taken
// under a master key not configured here, or it carries no MAC at all.
type IntegrityError struct {
	// KeyMissing: the file names a MAC key (by master-key ID) that no
	// configured master key has, so nothing could be verified.
	KeyMissing bool
	KeyID      string // the master-key ID the trailer names
	Msg        string
}

func (e *IntegrityError) Error() string { return e.Msg }

// macSet computes one MAC per candidate master key while a file streams.
type macSet struct {
	ids []string
	hs  []hash.Hash
}

func newMACSet(header []byte, masters [][]byte) *macSet {
	s := &macSet{}
	for _, m := range masters {
		h := hmac.New(sha256.New, MACKey(m))
		h.Write([]byte(macLabel + "\x00header\x00"))
		h.Write(header)
		h.Write([]byte("\x00records\x00"))
		s.ids = append(s.ids, seal.KeyID(m))
		s.hs = append(s.hs, h)
	}
	return s
}

func (s *macSet) Write(b []byte) {
	for _, h := range s.hs {
		h.Write(b)
	}
}

// verify checks the trailer's MAC against the one computed under the
// master key it names.
func (s *macSet) verify(t Trailer) error {
	if t.HMAC == "" {
		return &IntegrityError{Msg: "the trailer carries no hmac_sha256: the file was written by a gongpai that did not " +
			"authenticate backups, or the MAC was removed; it cannot be told apart from a forged file " +
			"(restore it with --ignore-integrity only if you know where it comes from)"}
	}
	want, err := hex.DecodeString(t.HMAC)
	if err != nil {
		return &IntegrityError{KeyID: t.MACKeyID, Msg: "the trailer's hmac_sha256 is not hex: the file was altered"}
	}
	for i, id := range s.ids {
		if id != t.MACKeyID {
			continue
		}
		if hmac.Equal(s.hs[i].Sum(nil), want) {
			return nil
		}
		return &IntegrityError{KeyID: id, Msg: fmt.Sprintf("the records do not match the trailer's hmac_sha256 under master key %s: "+
			"the file was altered after it was written (a record added, removed or changed) — do not restore it", id)}
	}
	return &IntegrityError{KeyMissing: true, KeyID: t.MACKeyID, Msg: fmt.Sprintf("the file is authenticated under master key %q, "+
		"which is neither master_key nor one of previous_master_keys here: configure that key to verify it "+
		"(or, knowing where the file comes from, pass --ignore-integrity)", t.MACKeyID)}
}
