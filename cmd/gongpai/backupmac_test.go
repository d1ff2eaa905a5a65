package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/backup"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// readBackup returns the records of a backup file, without checking its
// trailer (a forger's view of it).
func readBackup(t *testing.T, file []byte) (backup.Header, []storage.Record) {
	t.Helper()
	rd, err := backup.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var recs []storage.Record
	for rec, err := range rd.Records() {
		if err != nil {
			break // the trailer no longer matches: the point of the exercise
		}
		recs = append(recs, rec)
	}
	return rd.Header(), recs
}

// forge writes recs as a well-formed backup with a correct SHA-256, as
// anyone with the backup package (or a JSON editor and sha256sum) can;
// with key, authenticated under that (wrong) key, its trailer then
// claiming master key claimID.
func forge(t *testing.T, h backup.Header, recs []storage.Record, key []byte, claimID string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		if err := w.Authenticate(key); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if claimID != "" {
		out = bytes.Replace(out, []byte(`"mac_key_id":"`+tr.MACKeyID+`"`), []byte(`"mac_key_id":"`+claimID+`"`), 1)
	}
	return out
}

// A backup altered after it was written — an admin grant added, or a
// record edited — with its SHA-256 recomputed is refused (E-201, naming
// hmac_sha256), and writes nothing; the untouched file restores, also
// under a master key that is now only one of previous_master_keys.
func TestRestoreRefusesForgedBackup(t *testing.T) {
	src := newCLI(t)
	seedForBackup(t, src)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	out := src.ok("", "backup", "--out", good)
	masterID := seal.KeyID(readB64(t, filepath.Join(src.dataDir(), "master.key")))
	if !strings.Contains(out, "authenticated (hmac_sha256) under master key "+masterID) {
		t.Errorf("backup output does not say it is authenticated:\n%s", out)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"mac_key_id":"` + masterID + `","hmac_sha256":"[0-9a-f]{64}"`).Match(b) {
		t.Fatalf("trailer lacks the MAC: %s", b[bytes.LastIndex(b, []byte(`"trailer"`)):])
	}
	h, recs := readBackup(t, b)

	// Make the frozen employee a global admin, as an attacker with write
	// access to the backups would.
	var sub string
	for _, r := range recs {
		if e, ok := r.(*storage.Employee); ok && e.EmployeeID == "FIN012023001" {
			sub = e.Subject
		}
	}
	withGrant := func() []storage.Record {
		var out []storage.Record
		for _, r := range recs {
			out = append(out, r)
			if g, ok := r.(*storage.RoleGrant); ok && g.Role == "hr" {
				out = append(out, &storage.RoleGrant{Subject: sub, Role: "admin", CreatedAt: g.CreatedAt})
			}
		}
		return out
	}()
	wrongKey := make([]byte, 32)
	rand.Read(wrongKey)

	// The literal attack: edit one record in the file and put the
	// SHA-256 the edited records have into the trailer; the MAC stays.
	edited := bytes.Replace(b, []byte(`"Zhang Wei"`), []byte(`"Zhang Wu"`), 1)
	_, editedRecs := readBackup(t, edited)
	d := backup.NewDigest()
	for _, r := range editedRecs {
		if err := d.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	var orig struct {
		Trailer backup.Trailer `json:"trailer"`
	}
	if err := json.Unmarshal(b, &orig); err != nil {
		t.Fatal(err)
	}
	edited = bytes.Replace(edited, []byte(orig.Trailer.SHA256), []byte(d.Sum()), 1)

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name, file, field, want string
	}{
		{"record edited, SHA-256 recomputed", write("edited.json", edited), "in", "altered after it was written"},
		{"admin grant added, no MAC", write("nomac.json", forge(t, h, withGrant, nil, "")), "in", "carries no hmac_sha256"},
		{"admin grant added, MAC under another key", write("wrongkey.json", forge(t, h, withGrant, wrongKey, masterID)), "in", "altered after it was written"},
		{"admin grant added, MAC under an unknown key", write("otherkey.json", forge(t, h, withGrant, wrongKey, "")), "master_key", "neither master_key nor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := withKeysOf(t, src)
			for _, args := range [][]string{{"restore", "--in", tt.file}, {"restore", "--check", "--in", tt.file},
				{"restore", "--ignore-master-key-mismatch", "--in", tt.file}} {
				code, _, errOut := dst.run("", args...)
				if code != 1 || !strings.Contains(errOut, "E-201 "+tt.field+": hmac_sha256") || !strings.Contains(errOut, tt.want) ||
					!strings.Contains(errOut, "nothing was written") {
					t.Errorf("%v: exit %d, stderr %q; want E-201 %s: hmac_sha256 … %s", args, code, errOut, tt.field, tt.want)
				}
			}
			if got := records(t, dst.dbPath()); len(got) != 0 {
				t.Errorf("a forged backup wrote %v", storagetest.Count(got))
			}
		})
	}

	t.Run("--ignore-integrity", func(t *testing.T) {
		dst := withKeysOf(t, src)
		code, _, errOut := dst.run("", "restore", "--ignore-integrity", "--in", filepath.Join(dir, "nomac.json"))
		if code != 0 || !strings.Contains(errOut, "WARNING: integrity check skipped") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("untouched, under a previous master key", func(t *testing.T) {
		dst := withKeysOf(t, src)
		newKey := make([]byte, 32)
		rand.Read(newKey)
		old, err := os.ReadFile(filepath.Join(src.dataDir(), "master.key"))
		if err != nil {
			t.Fatal(err)
		}
		dst.env = append(dst.env, "GONGPAI_MASTER_KEY="+base64.StdEncoding.EncodeToString(newKey),
			"GONGPAI_PREVIOUS_MASTER_KEYS="+strings.TrimSpace(string(old)))
		if out := dst.ok("", "restore", "--in", good); !strings.Contains(out, "restored into sqlite") {
			t.Errorf("restore: %s", out)
		}
		if got := records(t, dst.dbPath()); len(got) != len(recs) {
			t.Errorf("restored %d records, want %d", len(got), len(recs))
		}
	})
}
