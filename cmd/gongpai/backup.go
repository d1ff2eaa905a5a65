package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gongpai/gongpai/backup"
	"github.com/gongpai/gongpai/config"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// backup, restore and migrate-store move every durable record
// (storage.Snapshotter, storage.Restorer) between a store and a file
// (package backup) or between two stores. docs/operations.md has the
// procedures.

func backupCommands() map[string]command {
	return map[string]command{
		"backup":        {"write a consistent snapshot of all durable data to a file", cmdBackup},
		"restore":       {"load a backup file into an empty store", cmdRestore},
		"migrate-store": {"copy all durable data into another, empty store (sqlite → postgres)", cmdMigrateStore},
	}
}

// snapshotStore is a durable backend that can be backed up and restored.
type snapshotStore interface {
	storage.Durable
	storage.Snapshotter
	storage.Restorer
}

// openDurable opens the durable backend alone — a backup holds no
// ephemeral state, so Redis is never needed — applying its migrations.
func openDurable(ctx context.Context, driver, dsn string, maxConns int32, log *slog.Logger) (snapshotStore, error) {
	switch driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, dsn, sqlite.Options{})
		if err != nil {
			return nil, openError(driver, dsn, err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: maxConns, Logger: log})
		if err != nil {
			return nil, openError(driver, dsn, err)
		}
		return st, nil
	}
	return nil, &config.FieldError{Field: "store.driver", Message: fmt.Sprintf("unknown driver %q", driver)}
}

// openError names the store that could not be opened (an operator
// moving data between two needs to know which); the backends' errors
// never carry a DSN.
func openError(driver, dsn string, err error) error {
	if errors.Is(err, storage.ErrUnavailable) {
		return &errcode.Error{Code: errcode.Unavailable, Status: http.StatusServiceUnavailable,
			Message: fmt.Sprintf("cannot reach %s: %v", storeName(driver, dsn), err)}
	}
	return fmt.Errorf("store: open %s: %w", storeName(driver, dsn), err)
}

// storeName shows a store to an operator: the sqlite path, or the
// postgres DSN without its password.
func storeName(driver, dsn string) string {
	if driver == "postgres" {
		return "postgres " + config.RedactDSN(dsn)
	}
	return driver + " " + dsn
}

func cmdBackup(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("backup", "", io)
	out := fs.String("out", "", "backup `file` to write (required); a name ending .gz is gzip-compressed; - writes to stdout")
	configPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "out"); err != nil {
		return err
	}
	cfg, log, masters, err := loadConfig(*configPath, io, env)
	if err != nil {
		return err
	}
	sealer, err := seal.New(masters...)
	if err != nil {
		return err
	}
	st, err := openDurable(ctx, cfg.Store.Driver, cfg.Store.DSN, cfg.Store.MaxConns, log)
	if err != nil {
		return err
	}
	defer st.Close()

	report := io.out
	dst, err := createOutput(*out, io.out)
	if err != nil {
		return err
	}
	if *out == "-" {
		report = io.err // stdout carries the backup
	}
	defer dst.abort()
	var w = dst.w
	var zw *gzip.Writer
	if strings.HasSuffix(*out, ".gz") {
		zw = gzip.NewWriter(w)
		w = zw
	}
	bw, err := backup.NewWriter(w, backup.Header{
		GongpaiVersion: version, SourceDriver: cfg.Store.Driver, TakenAt: time.Now(), MasterKeyID: sealer.SealingKeyID(),
	})
	if err != nil {
		return err
	}
	// Only a holder of the master key can write a file restore accepts.
	if err := bw.Authenticate(masters[0]); err != nil {
		return err
	}
	if err := st.Snapshot(ctx, bw.Write); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tr, err := bw.Close()
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", *out, err)
	}
	size, err := dst.commit()
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", *out, err)
	}

	if size >= 0 {
		fmt.Fprintf(report, "backed up %s to %s (%d bytes)\n", storeName(cfg.Store.Driver, cfg.Store.DSN), *out, size)
	} else {
		fmt.Fprintf(report, "backed up %s to stdout\n", storeName(cfg.Store.Driver, cfg.Store.DSN))
	}
	printCounts(report, tr.Counts)
	fmt.Fprintf(report, "sha256 %s\n", tr.SHA256)
	fmt.Fprintf(report, "authenticated (hmac_sha256) under master key %s: restore refuses the file if anything in it is changed\n", tr.MACKeyID)
	if ids := sealedUnder(tr); ids != "" {
		fmt.Fprintf(report, "its signing keys and TOTP seeds are sealed under master key %s: keep that key (separately secured) "+
			"with the backup, or it cannot be restored usefully\n", ids)
	}
	return nil
}

// output is a backup file being written: a temporary file beside the
// target, renamed onto it only once complete, so a failed or interrupted
// backup never leaves a truncated file under the backup's name.
type output struct {
	w      io.Writer
	f      *os.File // nil for stdout
	target string
	done   bool
}

func createOutput(path string, stdout io.Writer) (*output, error) {
	if path == "-" {
		return &output{w: stdout}, nil
	}
	// CreateTemp makes the file 0600: it holds password hashes and
	// sealed secrets.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "out", Message: err.Error()}
	}
	return &output{w: f, f: f, target: path}, nil
}

// commit syncs the file and moves it into place; it returns its size.
func (o *output) commit() (int64, error) {
	o.done = true
	if o.f == nil {
		return -1, nil
	}
	fi, err := o.f.Stat()
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.target)
	}
	if err != nil {
		os.Remove(o.f.Name())
		return 0, err
	}
	return fi.Size(), nil
}

// abort removes an uncommitted temporary file.
func (o *output) abort() {
	if o.f != nil && !o.done {
		o.f.Close()
		os.Remove(o.f.Name())
	}
}

func cmdRestore(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("restore", "", io)
	in := fs.String("in", "", "backup `file` to restore (required); gzip is recognised by its content; - reads stdin")
	check := fs.Bool("check", false, "only read and verify the file (completeness, checksum, master key); write nothing")
	ignoreKey := fs.Bool("ignore-master-key-mismatch", false,
		"restore even though the configured master key cannot open the backup's sealed signing keys and TOTP seeds")
	ignoreIntegrity := fs.Bool("ignore-integrity", false,
		"DANGEROUS: restore without verifying the file's HMAC (a file from before backups were authenticated, or "+
			"one taken under a lost master key); whoever altered the file decides who is an administrator")
	configPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "in"); err != nil {
		return err
	}
	cfg, log, masters, err := loadConfig(*configPath, io, env)
	if err != nil {
		return err
	}
	sealer, err := seal.New(masters...)
	if err != nil {
		return err
	}

	src := io.in
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "in", Message: err.Error()}
		}
		defer f.Close()
		src = f
	}
	rd, err := backup.NewReader(src)
	if err != nil {
		return snapshotError(err)
	}
	h := rd.Header()
	fmt.Fprintf(io.out, "backup taken %s from %s by gongpai %s (format %d)\n",
		h.TakenAt.Format(time.RFC3339), h.SourceDriver, h.GongpaiVersion, h.FormatVersion)

	if *ignoreIntegrity {
		fmt.Fprintln(io.err, "WARNING: integrity check skipped (--ignore-integrity): the file's HMAC is NOT verified. "+
			"Anyone who could write this file could have added administrators, role grants or clients with service "+
			"roles; restore it only if you know where it comes from, and review role grants and clients afterwards")
	} else {
		// The MAC is checked after the last record, before anything
		// commits (and under --check too).
		rd.Authenticate(masters...)
	}
	records := rd.Records()
	if *ignoreKey {
		fmt.Fprintln(io.err, "WARNING: master-key check skipped (--ignore-master-key-mismatch): sealed values the configured "+
			"master key cannot open are restored as they are and stay unusable")
	} else {
		records = backup.MasterKeyCheck(sealer, records)
	}
	counts := map[storage.Kind]int{}
	records = counting(records, counts)

	if *check {
		for _, err := range records {
			if err != nil {
				return snapshotError(err)
			}
		}
		if *ignoreIntegrity {
			fmt.Fprintln(io.out, "the file is complete and intact, but its authenticity (hmac_sha256) was NOT checked; nothing was written")
		} else {
			fmt.Fprintln(io.out, "the file is complete and intact, and authentic (hmac_sha256 verified); nothing was written")
		}
		printCounts(io.out, counts)
		return nil
	}

	st, err := openDurable(ctx, cfg.Store.Driver, cfg.Store.DSN, cfg.Store.MaxConns, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Restore(ctx, records); err != nil {
		return snapshotError(err)
	}
	fmt.Fprintf(io.out, "restored into %s\n", storeName(cfg.Store.Driver, cfg.Store.DSN))
	printCounts(io.out, counts)
	fmt.Fprintln(io.out, "sessions and pending sign-ins are not in a backup: employees sign in again")
	return nil
}

func cmdMigrateStore(ctx context.Context, args []string, io stdio, _ []string) error {
	fs := newFlags("migrate-store", "", io)
	from := fs.String("from", "", "source store (required): sqlite:PATH or postgres:DSN")
	to := fs.String("to", "", "target store, which must hold no data (required): sqlite:PATH or postgres:DSN")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "from", "to"); err != nil {
		return err
	}
	srcDriver, srcDSN, err := parseStoreSpec(*from, "from")
	if err != nil {
		return err
	}
	dstDriver, dstDSN, err := parseStoreSpec(*to, "to")
	if err != nil {
		return err
	}
	if srcDriver == dstDriver && sameStore(srcDriver, srcDSN, dstDSN) {
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "to",
			Message: "the target is the source store"}
	}
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))

	src, err := openDurable(ctx, srcDriver, srcDSN, 0, log)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openDurable(ctx, dstDriver, dstDSN, 0, log)
	if err != nil {
		return err
	}
	defer dst.Close()

	// The source's snapshot streams straight into the target's restore:
	// one read transaction there, one write transaction here.
	sent := backup.NewDigest()
	if err := dst.Restore(ctx, snapshotRecords(ctx, src, sent)); err != nil {
		return snapshotError(err)
	}
	// Read the target back: the same records, byte for byte in the
	// backup encoding, or the copy is reported as failed.
	got := backup.NewDigest()
	if err := dst.Snapshot(ctx, got.Add); err != nil {
		return fmt.Errorf("verify the target: %w", err)
	}
	want := sent.Trailer()
	if got.Sum() != want.SHA256 {
		return fmt.Errorf("verify the target: it does not read back what was copied (sha256 %s, want %s): "+
			"do not use it; report this", got.Sum(), want.SHA256)
	}
	fmt.Fprintf(io.out, "copied %s to %s\n", storeName(srcDriver, srcDSN), storeName(dstDriver, dstDSN))
	printCounts(io.out, want.Counts)
	fmt.Fprintf(io.out, "verified: the target reads back the same %d records (sha256 %s)\n", want.Total(), want.SHA256)
	fmt.Fprintln(io.out, "next: point store.driver and store.dsn at the target and keep master_key and crypto_key as they are "+
		"(sealed signing keys and TOTP seeds were copied sealed)")
	return nil
}

// snapshotRecords turns src's snapshot into the records a Restore ranges
// over, adding each to d on the way.
func snapshotRecords(ctx context.Context, src storage.Snapshotter, d *backup.Digest) iter.Seq2[storage.Record, error] {
	errStop := errors.New("restore stopped")
	return func(yield func(storage.Record, error) bool) {
		err := src.Snapshot(ctx, func(rec storage.Record) error {
			if err := d.Add(rec); err != nil {
				return err
			}
			if !yield(rec, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(nil, fmt.Errorf("read the source: %w", err))
		}
	}
}

// counting passes records through, counting them per kind into n.
func counting(records iter.Seq2[storage.Record, error], n map[storage.Kind]int) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		for rec, err := range records {
			if err == nil {
				n[rec.RecordKind()]++
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// parseStoreSpec splits sqlite:PATH or postgres:DSN; a bare postgres://
// or postgresql:// URL is a postgres DSN too.
func parseStoreSpec(spec, field string) (driver, dsn string, err error) {
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return "postgres", spec, nil
	}
	driver, dsn, ok := strings.Cut(spec, ":")
	if !ok || (driver != "sqlite" && driver != "postgres") || strings.TrimSpace(dsn) == "" {
		return "", "", &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: field,
			Message: "must be sqlite:PATH or postgres:DSN"}
	}
	return driver, dsn, nil
}

// sameStore reports whether two DSNs of one driver name the same store,
// as far as can be told without connecting.
func sameStore(driver, a, b string) bool {
	if driver == "sqlite" {
		pa, errA := filepath.Abs(a)
		pb, errB := filepath.Abs(b)
		return errA == nil && errB == nil && pa == pb
	}
	return a == b
}

// printCounts lists records per kind, in snapshot order, with a total.
func printCounts(w io.Writer, counts map[storage.Kind]int) {
	total := 0
	for _, k := range storage.RecordKinds {
		fmt.Fprintf(w, "  %-20s %9d\n", k, counts[k])
		total += counts[k]
	}
	fmt.Fprintf(w, "  %-20s %9d\n", "total", total)
}

// sealedUnder lists the master-key IDs a backup's sealed values need.
func sealedUnder(tr backup.Trailer) string {
	var ids []string
	for id := range tr.SealedUnder {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return strings.Join(ids, ", ")
}

// snapshotError gives backup and restore failures their stable codes.
func snapshotError(err error) error {
	var fe *backup.FormatError
	var mk *backup.MasterKeyError
	var ie *backup.IntegrityError
	switch {
	case errors.As(err, &ie) && ie.KeyMissing:
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "master_key",
			Message: "hmac_sha256: " + ie.Error() + "; nothing was written"}
	case errors.As(err, &ie):
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "in",
			Message: "hmac_sha256: " + ie.Error() + "; nothing was written"}
	case errors.As(err, &fe):
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "in",
			Message: fe.Error() + "; nothing was written"}
	case errors.As(err, &mk):
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "master_key",
			Message: mk.Error() + "; nothing was written"}
	case errors.Is(err, storage.ErrNotEmpty):
		return &errcode.Error{Code: errcode.Conflict, Status: http.StatusConflict,
			Message: "the target store already holds data, and a restore only goes into an empty store " +
				"(a new PostgreSQL database, or a sqlite file that does not exist yet); nothing was written (" + err.Error() + ")"}
	case errors.Is(err, storage.ErrConflict):
		return &errcode.Error{Code: errcode.Conflict, Status: http.StatusConflict,
			Message: "two records of the snapshot clash (" + err.Error() + "); nothing was written"}
	}
	return err
}
