package backup_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/backup"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// writeMAC renders recs as a backup authenticated under master.
func writeMAC(t *testing.T, recs []storage.Record, master []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw, err := backup.NewWriter(&buf, header)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Authenticate(master); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := bw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readMAC(file []byte, masters ...[]byte) error {
	r, err := backup.NewReader(bytes.NewReader(file))
	if err != nil {
		return err
	}
	r.Authenticate(masters...)
	for _, err := range r.Records() {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestMAC(t *testing.T) {
	_, recs := populated(t)
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	file := writeMAC(t, recs, k1)
	if !bytes.Contains(file, []byte(`"mac_key_id":"`+seal.KeyID(k1)+`"`)) {
		t.Fatal("trailer does not name the MAC key")
	}
	if err := readMAC(file, k1); err != nil {
		t.Errorf("untouched file: %v", err)
	}
	if err := readMAC(file, k2, k1); err != nil {
		t.Errorf("untouched file, its key among several: %v", err)
	}
	var ie *backup.IntegrityError
	if err := readMAC(file, k2); !errors.As(err, &ie) || !ie.KeyMissing {
		t.Errorf("file under a key not configured: %v, want IntegrityError{KeyMissing}", err)
	}
	// The header is covered too.
	h := bytes.Replace(file, []byte(`"source_driver":"sqlite"`), []byte(`"source_driver":"postgres"`), 1)
	if err := readMAC(h, k1); !errors.As(err, &ie) || ie.KeyMissing || !strings.Contains(err.Error(), "altered") {
		t.Errorf("header altered: %v, want IntegrityError naming an alteration", err)
	}
	// A file without a MAC (an older gongpai, or stripped) is refused when
	// authenticating, read when not.
	plain, _ := write(t, recs, false)
	if err := readMAC(plain, k1); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no hmac_sha256") {
		t.Errorf("file without a MAC: %v", err)
	}
	if _, _, _, err := read(plain); err != nil {
		t.Errorf("file without a MAC, not authenticating: %v", err)
	}
	// Authenticate after a record is refused.
	bw, _ := backup.NewWriter(&bytes.Buffer{}, header)
	_ = bw.Write(recs[0])
	if err := bw.Authenticate(k1); err == nil {
		t.Error("Authenticate after the first record accepted")
	}
}
