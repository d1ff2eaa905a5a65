package backup_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/backup"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
	"github.com/gongpai/gongpai/storage/storagetest"
)

var anchor = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Now: func() time.Time { return anchor }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// populated is a store with every kind of record, and its snapshot.
func populated(t *testing.T) (*sqlite.Store, []storage.Record) {
	t.Helper()
	s := openStore(t)
	storagetest.Populate(t, s, anchor)
	return s, storagetest.Collect(t, s)
}

var header = backup.Header{GongpaiVersion: "v1.2.3", SourceDriver: "sqlite", TakenAt: anchor, MasterKeyID: "0a1b2c3d"}

// write renders recs as a backup file, gzip-compressed when zip is set.
func write(t *testing.T, recs []storage.Record, zip bool) ([]byte, backup.Trailer) {
	t.Helper()
	var buf bytes.Buffer
	var zw *gzip.Writer
	var w io.Writer = &buf
	if zip {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	bw, err := backup.NewWriter(w, header)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := bw.Write(r); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	tr, err := bw.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if zip {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), tr
}

// read reads every record of file, returning the first error.
func read(file []byte) (backup.Header, []storage.Record, backup.Trailer, error) {
	r, err := backup.NewReader(bytes.NewReader(file))
	if err != nil {
		return backup.Header{}, nil, backup.Trailer{}, err
	}
	var recs []storage.Record
	for rec, err := range r.Records() {
		if err != nil {
			return r.Header(), recs, backup.Trailer{}, err
		}
		recs = append(recs, rec)
	}
	return r.Header(), recs, r.Trailer(), nil
}

func TestRoundTrip(t *testing.T) {
	_, want := populated(t)
	for _, zip := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", zip), func(t *testing.T) {
			file, wroteTrailer := write(t, want, zip)
			h, got, tr, err := read(file)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			wantHeader := header
			wantHeader.Format, wantHeader.FormatVersion = backup.Format, backup.FormatVersion
			if !reflect.DeepEqual(h, wantHeader) {
				t.Errorf("header: got %+v, want %+v", h, wantHeader)
			}
			storagetest.WantSameRecords(t, "records read back", got, want)
			if !reflect.DeepEqual(tr, wroteTrailer) {
				t.Errorf("trailer read %+v, written %+v", tr, wroteTrailer)
			}
			d := backup.NewDigest()
			for _, r := range want {
				if err := d.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if tr.SHA256 != d.Sum() {
				t.Errorf("trailer SHA-256 %s, digest of the records %s", tr.SHA256, d.Sum())
			}
			if tr.Total() != len(want) || tr.Counts[storage.KindEmployee] != storagetest.Count(want)[storage.KindEmployee] {
				t.Errorf("trailer counts %v (total %d), want %v", tr.Counts, tr.Total(), storagetest.Count(want))
			}
			if tr.SealedUnder["0a1b2c3d"] != 3 { // two private keys and one TOTP seed in Populate
				t.Errorf("trailer sealed_under %v, want 3 values under 0a1b2c3d", tr.SealedUnder)
			}
		})
	}
}

// TestFileIsReadable pins the document's outline: one JSON object, one
// record per line, sections in order, nothing secret in the clear that
// was sealed in the store.
func TestFileIsReadable(t *testing.T) {
	_, recs := populated(t)
	file, _ := write(t, recs, false)
	s := string(file)
	if !strings.HasPrefix(s, `{"header":{"format":"gongpai-backup","format_version":2,`) {
		t.Errorf("file starts %q", s[:80])
	}
	last := -1
	for _, k := range storage.RecordKinds {
		i := strings.Index(s, "\n\""+string(k)+"\":[")
		if i < last {
			t.Errorf("section %s missing or out of order", k)
		}
		last = i
	}
	if !strings.Contains(s, "\n{\"code\":\"ACME\",") || !strings.HasSuffix(s, "}\n") {
		t.Errorf("records are not one per line, or the document is not closed:\n%s", s)
	}
}

func TestEmptyStore(t *testing.T) {
	file, tr := write(t, storagetest.Collect(t, openStore(t)), true)
	_, got, _, err := read(file)
	if err != nil || len(got) != 0 || tr.Total() != 0 || len(tr.Counts) != len(storage.RecordKinds) {
		t.Errorf("empty backup: %d records, trailer %+v, err %v", len(got), tr, err)
	}
}

func TestWriterRefusesDisorder(t *testing.T) {
	w, err := backup.NewWriter(&bytes.Buffer{}, header)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&storage.Employee{Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&storage.LegalEntity{Code: "ACME"}); err == nil {
		t.Error("an entity after an employee was accepted")
	}
}

// TestRecordShapesCoverEveryField fills every field of every record type
// and reads it back through the file: a field added to a storage type
// without a counterpart in the file's shapes comes back zero and fails.
func TestRecordShapesCoverEveryField(t *testing.T) {
	recs := []storage.Record{&storage.LegalEntity{}, &storage.Department{}, &storage.Employee{}, &storage.EmployeeIDRecord{},
		&storage.RoleGrant{}, &storage.Sequence{}, &storage.Client{}, &storage.SigningKey{}, &storage.KeyEvent{},
		&storage.AuditEvent{}, &storage.RefreshToken{}, &storage.Setting{}}
	for i, k := range storage.RecordKinds {
		if recs[i].RecordKind() != k {
			t.Fatalf("test table out of step with storage.RecordKinds at %s", k)
		}
		fill(reflect.ValueOf(recs[i]).Elem())
	}
	file, _ := write(t, recs, false)
	_, got, _, err := read(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !reflect.DeepEqual(got[i], recs[i]) {
			t.Errorf("%s did not survive the file:\n got %+v\nwant %+v", recs[i].RecordKind(), got[i], recs[i])
		}
	}
}

// fill sets every field of the struct v to a non-zero value.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(anchor.Add(time.Duration(i) * time.Hour)))
		case f.Kind() == reflect.String:
			f.SetString("v-" + name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Int64:
			f.SetInt(int64(1000 + i))
		case f.Type() == reflect.TypeFor[[]byte]():
			f.SetBytes([]byte("bytes\x00\xff-" + name))
		case f.Type() == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{"a-" + name, "b"}))
		default:
			panic("fill: no value for " + name + " of type " + f.Type().String())
		}
	}
}

// TestDamagedFiles: every truncation of a backup, plain or gzip, and every
// kind of tampering is refused with a FormatError — none reads as a
// complete (smaller) backup.
func TestDamagedFiles(t *testing.T) {
	_, recs := populated(t)
	for _, zip := range []bool{false, true} {
		file, _ := write(t, recs, zip)
		complete := len(bytes.TrimRight(file, "\n"))
		if zip {
			complete = len(file)
		}
		for cut := range complete {
			if _, _, _, err := read(file[:cut]); !isFormatError(err) {
				t.Fatalf("gzip=%v: file cut at byte %d of %d: got error %v, want a FormatError", zip, cut, len(file), err)
			}
		}
	}

	file, _ := write(t, recs, false)
	gz, _ := write(t, recs, true)
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   string
	}{
		{"not JSON", func([]byte) []byte { return []byte("SQLite format 3\x00") }, "JSON object"},
		{"another JSON document", func([]byte) []byte { return []byte(`{"issuer":"x"}`) }, `expected section "header"`},
		{"another format", func(b []byte) []byte { return bytes.Replace(b, []byte(`"gongpai-backup"`), []byte(`"other"`), 1) }, `format "other"`},
		{"a newer format version", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"format_version":2`), []byte(`"format_version":3`), 1)
		}, "upgrade"},
		{"a changed character", func(b []byte) []byte { return bytes.Replace(b, []byte(`"Beta Ltd"`), []byte(`"Beta Ltc"`), 1) }, "SHA-256"},
		{"a record dropped", func(b []byte) []byte {
			return regexp.MustCompile(`,\n\{"code":"BETA",[^\n]*\}\]`).ReplaceAll(b, []byte("]"))
		}, "the trailer counts 2 entities, the file holds 1"},
		{"an unknown field", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"code":"ACME",`), []byte(`{"code":"ACME","x":1,`), 1)
		}, "unknown field"},
		{"sections swapped", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"entities":[`), []byte(`"departments":[`), 1)
		}, `expected section "entities"`},
		{"data after the end", func(b []byte) []byte { return append(b, []byte("{}")...) }, "after the end"},
		{"a flipped bit in gzip", func([]byte) []byte {
			b := bytes.Clone(gz)
			b[len(b)/2] ^= 0x10
			return b
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := read(tt.mutate(bytes.Clone(file)))
			if !isFormatError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want a FormatError mentioning %q", err, tt.want)
			}
		})
	}
}

func isFormatError(err error) bool {
	var fe *backup.FormatError
	return errors.As(err, &fe)
}

// TestDamagedFileRestoresNothing: a restore reads the file as it writes,
// so a file damaged near its end has had most of its records inserted
// when the damage shows — and still nothing is committed.
func TestDamagedFileRestoresNothing(t *testing.T) {
	_, recs := populated(t)
	file, _ := write(t, recs, false)
	damaged := bytes.Replace(file, []byte(`"demo.seeded"`), []byte(`"demo.seedex"`), 1)
	r, err := backup.NewReader(bytes.NewReader(damaged))
	if err != nil {
		t.Fatal(err)
	}
	dst := openStore(t)
	err = dst.Restore(t.Context(), r.Records())
	if !isFormatError(err) {
		t.Fatalf("restore of a damaged file: got %v, want a FormatError", err)
	}
	if got := storagetest.Collect(t, dst); len(got) != 0 {
		t.Errorf("the failed restore left %v behind", storagetest.Count(got))
	}
}

func TestMasterKeyCheck(t *testing.T) {
	keyA, keyB := bytes.Repeat([]byte{'a'}, 32), bytes.Repeat([]byte{'b'}, 32)
	a, _ := seal.New(keyA)
	b, _ := seal.New(keyB)
	bThenA, _ := seal.New(keyB, keyA)
	seed, _ := a.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:sub-1"))
	priv, _ := a.Seal([]byte("pkcs8"), []byte("kid-1"))
	recs := []storage.Record{
		&storage.Employee{Subject: "sub-0", EmployeeID: "E0"},
		&storage.Employee{Subject: "sub-1", EmployeeID: "E1", TOTPSecret: seed},
		&storage.SigningKey{ID: "kid-0", State: storage.KeyRemoved},
		&storage.SigningKey{ID: "kid-1", PrivateKey: priv},
	}
	run := func(s *seal.Sealer, recs []storage.Record) (int, error) {
		n := 0
		for _, err := range backup.MasterKeyCheck(s, storagetest.Records(recs)) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	for _, s := range []*seal.Sealer{a, bThenA} {
		if n, err := run(s, recs); err != nil || n != len(recs) {
			t.Errorf("sealer under %s: passed %d of %d records, err %v", s.SealingKeyID(), n, len(recs), err)
		}
	}

	_, err := run(b, recs)
	var mk *backup.MasterKeyError
	if !errors.As(err, &mk) || mk.SealedUnder != seal.KeyID(keyA) || mk.Configured != seal.KeyID(keyB) || mk.What != "TOTP seed of E1" {
		t.Errorf("wrong master key: got %v", err)
	}

	// A value bound to another record does not open either.
	moved := []storage.Record{&storage.SigningKey{ID: "kid-2", PrivateKey: priv}}
	if _, err := run(a, moved); !errors.As(err, &mk) {
		t.Errorf("a private key copied onto another kid: got %v, want a MasterKeyError", err)
	}
	// Something that is not a sealed value is refused without being shown.
	plain := []storage.Record{&storage.Employee{Subject: "s", EmployeeID: "E9", TOTPSecret: []byte("JBSWY3DPEHPK3PXP")}}
	if _, err := run(a, plain); !errors.As(err, &mk) || strings.Contains(err.Error(), "JBSW") {
		t.Errorf("a plaintext seed: got %v", err)
	}
}
