// Package backup reads and writes gongpai's backup file: a logical,
// consistent snapshot of every durable record (storage.Snapshotter), as
// one versioned JSON document that is written and read as a stream, so a
// directory of any size never has to fit in memory.
//
// The document is an object whose keys come in a fixed order:
//
//	{"header": {"format": "gongpai-backup", "format_version": 1, …},
//	 "entities": [
//	  {…},
//	  …],
//	 "departments": [ … ],
//	 … one array per storage.RecordKinds entry, in that order …
//	 "trailer": {"counts": {…}, "sealed_under": {…}, "sha256": "…",
//	             "mac_key_id": "…", "hmac_sha256": "…"}}
//
// one record per line. The trailer's counts and SHA-256 (over every
// record, see Digest) are checked when the file is read, so a truncated or
// damaged file is refused — and since a restore is one transaction, a bad
// file writes nothing. Its HMAC-SHA-256 under a key derived from the
// master key (mac.go) is checked too, so a file altered by someone
// without the master key is refused as well. Sealed values (signing keys' private halves, TOTP
// seeds) stay sealed: a backup never opens them, and restoring one needs
// the master key they were sealed under (MasterKeyCheck).
package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// Format is the header's format name: what makes a file a gongpai backup.
const Format = "gongpai-backup"

// FormatVersion is the version this package writes. It reads every
// version up to this one and refuses newer ones.
//
// Version 2 adds the trailer's mac_key_id and hmac_sha256 (mac.go).
const FormatVersion = 2

// Header opens the file.
type Header struct {
	Format         string    `json:"format"`
	FormatVersion  int       `json:"format_version"`
	GongpaiVersion string    `json:"gongpai_version"`
	SourceDriver   string    `json:"source_driver"` // sqlite or postgres
	TakenAt        time.Time `json:"taken_at"`
	// MasterKeyID is seal.KeyID of the master key configured where the
	// backup was taken. The sealed values themselves may be under older
	// keys too: Trailer.SealedUnder says which.
	MasterKeyID string `json:"master_key_id,omitempty"`
}

// Trailer closes the file.
type Trailer struct {
	Counts map[storage.Kind]int `json:"counts"`
	// SealedUnder counts sealed values (private keys, TOTP seeds) per
	// master-key ID: restoring needs every one of these keys.
	SealedUnder map[string]int `json:"sealed_under"`
	SHA256      string         `json:"sha256"` // Digest.Sum of the records
	// MACKeyID is the ID (seal.KeyID) of the master key HMAC was keyed
	// from (MACKey); HMAC is the hex HMAC-SHA-256 over the header and the
	// records (mac.go). Both are empty in a file written without
	// Writer.Authenticate, which Reader.Authenticate refuses.
	MACKeyID string `json:"mac_key_id,omitempty"`
	HMAC     string `json:"hmac_sha256,omitempty"`
}

// Total is the number of records.
func (t Trailer) Total() int {
	n := 0
	for _, c := range t.Counts {
		n += c
	}
	return n
}

// FormatError means the input is not a complete, intact backup this
// binary can read: not a backup at all, a newer format, truncated,
// altered, or records out of order.
type FormatError struct {
	Offset int64 // byte offset in the (uncompressed) document, -1 if unknown
	Msg    string
	Err    error
}

func (e *FormatError) Error() string {
	s := "not a usable gongpai backup: " + e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// Digest accumulates the SHA-256 and per-kind counts of a stream of
// records in their file encoding. Two snapshots with the same digest hold
// the same records in the same order, whichever backend they came from.
type Digest struct {
	h      hash.Hash
	counts map[storage.Kind]int
	sealed map[string]int
	macs   *macSet // nil unless the file is authenticated
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest {
	return &Digest{h: sha256.New(), counts: map[storage.Kind]int{}, sealed: map[string]int{}}
}

// Add encodes rec and adds it.
func (d *Digest) Add(rec storage.Record) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	d.add(rec, b)
	return nil
}

// add adds rec whose compact encoding is b.
func (d *Digest) add(rec storage.Record, b []byte) {
	d.h.Write([]byte(rec.RecordKind()))
	d.h.Write([]byte{' '})
	d.h.Write(b)
	d.h.Write([]byte{'\n'})
	if d.macs != nil {
		d.macs.Write([]byte(rec.RecordKind()))
		d.macs.Write([]byte{' '})
		d.macs.Write(b)
		d.macs.Write([]byte{'\n'})
	}
	d.counts[rec.RecordKind()]++
	if v := sealedValue(rec); len(v) > 0 {
		id := seal.SealedUnder(v)
		if id == "" {
			id = "(not a sealed value)"
		}
		d.sealed[id]++
	}
}

// Sum is the hex SHA-256 over every record added so far.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// Trailer is what a file of the records added so far ends with.
func (d *Digest) Trailer() Trailer {
	counts := maps.Clone(d.counts)
	for _, k := range storage.RecordKinds {
		counts[k] += 0 // every kind listed, zeros too
	}
	return Trailer{Counts: counts, SealedUnder: maps.Clone(d.sealed), SHA256: d.Sum()}
}

// sealedValue is the sealed secret a record carries, if any.
func sealedValue(rec storage.Record) []byte {
	switch r := rec.(type) {
	case *storage.SigningKey:
		return r.PrivateKey
	case *storage.Employee:
		return r.TOTPSecret
	}
	return nil
}

// Writer writes a backup file record by record.
type Writer struct {
	w       *bufio.Writer
	header  []byte // as written, for the MAC
	d       *Digest
	section int  // index in storage.RecordKinds of the open array; -1 before the first
	first   bool // no record yet in the open array
	err     error
}

// NewWriter writes h (Format and FormatVersion filled in) to w and returns
// a Writer for the records. Close must be called to finish the file.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.FormatVersion = Format, FormatVersion
	h.TakenAt = h.TakenAt.UTC()
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString(`{"header":`)
	bw.Write(b)
	return &Writer{w: bw, header: b, d: NewDigest(), section: -1}, nil
}

// Authenticate makes the trailer carry an HMAC-SHA-256 of the header and
// the records under a key derived from master (MACKey), the configured
// master key: only its holder can then write a file that restore
// accepts. It must be called before the first Write.
func (w *Writer) Authenticate(master []byte) error {
	if w.section >= 0 || len(w.d.counts) > 0 {
		return errors.New("backup: Authenticate after the first record")
	}
	if len(master) == 0 {
		return errors.New("backup: no master key to authenticate with")
	}
	w.d.macs = newMACSet(w.header, [][]byte{master})
	return nil
}

// Write appends rec. Records must come kind by kind in
// storage.RecordKinds order, as a storage.Snapshotter emits them; Write
// has the signature of its emit function.
func (w *Writer) Write(rec storage.Record) error {
	if w.err != nil {
		return w.err
	}
	k := slices.Index(storage.RecordKinds, rec.RecordKind())
	if k < 0 || k < w.section {
		return fmt.Errorf("backup: record of kind %s out of order", rec.RecordKind())
	}
	w.openSection(k)
	b, err := encodeRecord(rec)
	if err != nil {
		w.err = err
		return err
	}
	if !w.first {
		w.w.WriteByte(',')
	}
	w.first = false
	w.w.WriteByte('\n')
	_, w.err = w.w.Write(b)
	w.d.add(rec, b)
	return w.err
}

// openSection closes the open array and opens every one up to k.
func (w *Writer) openSection(k int) {
	for w.section < k {
		if w.section >= 0 {
			w.w.WriteString("],")
		} else {
			w.w.WriteByte(',')
		}
		w.section++
		w.w.WriteString("\n\"" + string(storage.RecordKinds[w.section]) + "\":[")
		w.first = true
	}
}

// Close writes the remaining (empty) arrays and the trailer, flushes, and
// returns the trailer. It does not close the underlying writer.
func (w *Writer) Close() (Trailer, error) {
	if w.err != nil {
		return Trailer{}, w.err
	}
	w.openSection(len(storage.RecordKinds) - 1)
	t := w.d.Trailer()
	if m := w.d.macs; m != nil {
		t.MACKeyID, t.HMAC = m.ids[0], hex.EncodeToString(m.hs[0].Sum(nil))
	}
	b, err := json.Marshal(t)
	if err != nil {
		return Trailer{}, err
	}
	w.w.WriteString("],\n\"trailer\":")
	w.w.Write(b)
	w.w.WriteString("}\n")
	if err := w.w.Flush(); err != nil {
		w.err = err
		return Trailer{}, err
	}
	w.err = errors.New("backup: writer closed")
	return t, nil
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// Reader reads a backup file: the header at once, the records as they
// are iterated.
type Reader struct {
	dec     *json.Decoder
	header  Header
	trailer Trailer
	done    bool
	masters [][]byte // Authenticate: the MAC must verify under one of these
}

// NewReader reads and checks the header of the backup in r, which may be
// gzip-compressed (recognised by its first bytes, whatever the file name).
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{Offset: -1, Msg: "broken gzip header", Err: err}
		}
		r = zr
	} else {
		r = br
	}
	rd := &Reader{dec: json.NewDecoder(r)}
	if err := rd.expectDelim('{', "the document must be a JSON object"); err != nil {
		return nil, err
	}
	if err := rd.expectKey("header"); err != nil {
		return nil, err
	}
	if err := rd.dec.Decode(&rd.header); err != nil {
		return nil, rd.formatError("unreadable header", err)
	}
	h := rd.header
	switch {
	case h.Format != Format:
		return nil, &FormatError{Offset: -1, Msg: fmt.Sprintf("the header names format %q, not %q", h.Format, Format)}
	case h.FormatVersion < 1 || h.FormatVersion > FormatVersion:
		return nil, &FormatError{Offset: -1, Msg: fmt.Sprintf("format version %d, written by gongpai %s; this gongpai reads versions 1 to %d: upgrade it",
			h.FormatVersion, h.GongpaiVersion, FormatVersion)}
	}
	return rd, nil
}

// Header is the file's header.
func (r *Reader) Header() Header { return r.header }

// Authenticate makes Records check the file's HMAC (mac.go) under the
// master key the trailer names, which must be one of masters (the
// configured master key and previous_master_keys): a file without a MAC,
// with one that does not verify, or keyed by another master key ends
// Records with an *IntegrityError, after the last record and before the
// restore could commit. Without Authenticate the MAC is not checked
// (restore --ignore-integrity). It must be called before Records.
func (r *Reader) Authenticate(masters ...[]byte) {
	r.masters = masters
}

// Trailer is the file's trailer, once Records has run to its end without
// an error.
func (r *Reader) Trailer() Trailer { return r.trailer }

// Records yields every record of the file, in file order. At the end it
// checks the trailer — counts and SHA-256 — and that nothing follows the
// document; any problem is yielded as a *FormatError (or the reader's
// error), after which iteration stops. A restore that stops at the first
// error therefore never commits a damaged file. Records can be iterated
// once.
func (r *Reader) Records() iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		if r.done {
			yield(nil, errors.New("backup: records already read"))
			return
		}
		r.done = true
		d := NewDigest()
		if r.masters != nil {
			// The header as the writer marshalled it: a Header
			// round-trips through JSON unchanged.
			hb, err := json.Marshal(r.header)
			if err != nil {
				yield(nil, err)
				return
			}
			d.macs = newMACSet(hb, r.masters)
		}
		for _, kind := range storage.RecordKinds {
			if err := r.expectKey(string(kind)); err != nil {
				yield(nil, err)
				return
			}
			if err := r.expectDelim('[', "section "+string(kind)+" must be an array"); err != nil {
				yield(nil, err)
				return
			}
			for r.dec.More() {
				var raw json.RawMessage
				if err := r.dec.Decode(&raw); err != nil {
					yield(nil, r.formatError("unreadable "+string(kind)+" record", err))
					return
				}
				rec, err := decodeRecord(kind, raw)
				if err != nil {
					yield(nil, r.formatError("bad "+string(kind)+" record", err))
					return
				}
				// The digest is over the bytes as written (compact JSON):
				// a re-formatted file no longer matches its trailer.
				d.add(rec, raw)
				if !yield(rec, nil) {
					return
				}
			}
			if err := r.expectDelim(']', "section "+string(kind)+" is not closed"); err != nil {
				yield(nil, err)
				return
			}
		}
		if err := r.readTrailer(d); err != nil {
			yield(nil, err)
		}
	}
}

// readTrailer reads the trailer and checks it against d, then checks that
// the document ends there.
func (r *Reader) readTrailer(d *Digest) error {
	if err := r.expectKey("trailer"); err != nil {
		return err
	}
	var t Trailer
	if err := r.dec.Decode(&t); err != nil {
		return r.formatError("unreadable trailer", err)
	}
	if err := r.expectDelim('}', "the document is not closed after the trailer"); err != nil {
		return err
	}
	if _, err := r.dec.Token(); err != io.EOF {
		if err == nil {
			return r.formatError("data after the end of the document", nil)
		}
		return r.formatError("damaged after the end of the document", err)
	}
	got := d.Trailer()
	for _, k := range storage.RecordKinds {
		if got.Counts[k] != t.Counts[k] {
			return &FormatError{Offset: -1, Msg: fmt.Sprintf("the trailer counts %d %s, the file holds %d", t.Counts[k], k, got.Counts[k])}
		}
	}
	if got.SHA256 != t.SHA256 {
		return &FormatError{Offset: -1, Msg: "the records do not match the trailer's SHA-256: the file was altered or damaged"}
	}
	if d.macs != nil {
		if err := d.macs.verify(t); err != nil {
			return err
		}
	}
	r.trailer = t
	return nil
}

// expectDelim reads one token and requires it to be delim.
func (r *Reader) expectDelim(delim json.Delim, msg string) error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.formatError(msg, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != delim {
		return r.formatError(fmt.Sprintf("%s (found %v)", msg, tok), nil)
	}
	return nil
}

// expectKey reads one token and requires it to be the object key key.
func (r *Reader) expectKey(key string) error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.formatError("expected section "+key, err)
	}
	if s, ok := tok.(string); !ok || s != key {
		return r.formatError(fmt.Sprintf("expected section %q, found %v", key, tok), nil)
	}
	return nil
}

// formatError describes a problem at the decoder's position. A file that
// ends early is called truncated.
func (r *Reader) formatError(msg string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "the file ends early (truncated?): " + msg
		err = nil
	}
	return &FormatError{Offset: r.dec.InputOffset(), Msg: msg, Err: err}
}
