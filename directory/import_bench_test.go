package directory_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// BenchmarkImport100k imports 100 000 new employees (IDs generated from
// the rule, spread over 20 departments) into an empty embedded store in
// one all-or-nothing write. It reports the time per import and the peak
// Go heap while it ran (make bench).
func BenchmarkImport100k(b *testing.B) {
	const rows, depts = 100_000, 20
	var csv strings.Builder
	csv.WriteString("external_id,entity,department,name,email,title,hire_date\n")
	for i := range rows {
		fmt.Fprintf(&csv, "hr-%06d,ACME,D%02d,Employee %d,e%d@acme.example,Engineer,2024-%02d-15\n", i, i%depts, i, i, i%12+1)
	}
	data := []byte(csv.String())
	b.SetBytes(int64(len(data)))
	sealer, err := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		dir := directory.New(st, sealer, directory.Options{Argon2: cheapArgon2})
		m := directory.NewManager(dir, st, st, directory.ManagerOptions{})
		if _, err := m.CreateEntity(b.Context(), "bench", "ACME", "ACME", "{dept}{yyyy}{seq:5}"); err != nil {
			b.Fatal(err)
		}
		for d := range depts {
			if _, err := m.CreateDepartment(b.Context(), "bench", "ACME", fmt.Sprintf("D%02d", d), "Dept", ""); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		stop := sampleHeap(&peak)
		b.StartTimer()
		rep, err := m.Import(b.Context(), bytes.NewReader(data), directory.ImportOptions{Actor: "bench"})
		b.StopTimer()
		stop()
		if err != nil || !rep.Applied || rep.Created != rows {
			b.Fatalf("import: %v applied=%v created=%d errors=%d", err, rep.Applied, rep.Created, len(rep.Errors))
		}
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(rows), "rows/op")
}

// sampleHeap records the largest live heap seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			*peak = max(*peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
