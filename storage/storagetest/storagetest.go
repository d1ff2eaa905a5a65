// Package storagetest is the one conformance suite every storage backend
// runs. A backend's test file is three lines:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store { return open(t, now) })
//	}
//
// The suite owns a fake clock and passes its now to open; backends must
// judge expiry by it. Every subtest gets a fresh store from open, which
// should register its own cleanup with t.Cleanup.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// subtestTimeout is generous: it exists to turn a deadlock into a goroutine
// dump instead of a silent hang until go test's own timeout.
const subtestTimeout = 2 * time.Minute

// workers is how many goroutines the race subtests start.
const workers = 24

// Run runs the whole suite, durable and ephemeral, against the store open
// returns.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) storage.Store) {
	t.Helper()
	t.Run("Durable", func(t *testing.T) {
		for _, tt := range durableTests {
			t.Run(tt.name, func(t *testing.T) {
				c := newClock()
				s := open(t, c.Now)
				withTimeout(t, func() { tt.run(t, s, c) })
			})
		}
	})
	runAdmin(t, open)
	RunEphemeral(t, func(t *testing.T, now func() time.Time) storage.Ephemeral { return open(t, now) })
}

// RunEphemeral runs the ephemeral part of the suite only, for backends
// (redis) that hold no durable state.
func RunEphemeral(t *testing.T, open func(t *testing.T, now func() time.Time) storage.Ephemeral) {
	t.Helper()
	t.Run("Ephemeral", func(t *testing.T) {
		for _, tt := range ephemeralTests {
			t.Run(tt.name, func(t *testing.T) {
				c := newClock()
				s := open(t, c.Now)
				withTimeout(t, func() { tt.run(t, s, c) })
			})
		}
	})
}

type durableTest struct {
	name string
	run  func(t *testing.T, s storage.Durable, c *clock)
}

type ephemeralTest struct {
	name string
	run  func(t *testing.T, s storage.Ephemeral, c *clock)
}

// clock is the suite's fake time. It starts at a fixed instant with a
// sub-microsecond part, so truncation is exercised everywhere, and only
// moves when a test advances it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)}
}

// Now is the func handed to the backend.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// shanghai is a non-UTC zone. Fixtures are built in it so every round trip
// also checks that backends return UTC.
var shanghai = time.FixedZone("CST", 8*60*60)

// local returns the clock's instant plus d, expressed in shanghai.
func (c *clock) local(d time.Duration) time.Time { return c.Now().Add(d).In(shanghai) }

// withTimeout runs f on the test goroutine (so t.Fatal works) while a
// watchdog waits; if f has not returned in time, the watchdog prints every
// goroutine's stack and panics, which ends the test binary — a deadlocked
// backend cannot be unwound any other way.
func withTimeout(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	name := t.Name()
	go func() {
		timer := time.NewTimer(subtestTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			buf := make([]byte, 8<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "storagetest: %s still running after %v; goroutines:\n%s\n", name, subtestTimeout, buf)
			panic("storagetest: " + name + " timed out (deadlock?)")
		}
	}()
	f()
}

// must fails the test now when err is not nil.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr fails the test now unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// wantEqual reports every field where got differs from want. Times are
// compared as instants after truncating want to the microsecond, and got
// must be in UTC; string slices must match in nil-ness too (nil and empty
// mean different things in several fields); a nil byte slice must stay nil.
func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	var d []string
	compare(reflect.ValueOf(got), reflect.ValueOf(want), fmt.Sprintf("%T", want), &d)
	if len(d) > 0 {
		t.Errorf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

func compare(got, want reflect.Value, path string, d *[]string) {
	add := func(format string, args ...any) { *d = append(*d, path+": "+fmt.Sprintf(format, args...)) }
	if got.Type() != want.Type() {
		add("got type %v, want %v", got.Type(), want.Type())
		return
	}
	switch {
	case got.Type() == timeType:
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if g.Location() != time.UTC {
			add("got location %v, want UTC", g.Location())
		}
		if w = w.Truncate(time.Microsecond); !g.Equal(w) {
			add("got %v, want %v", g, w.UTC())
		}
		return
	case got.Type() == bytesType:
		g, w := got.Bytes(), want.Bytes()
		if w == nil && g != nil {
			add("got %q, want nil", g)
		} else if !bytes.Equal(g, w) {
			add("got %q, want %q", g, w)
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				add("got %v, want %v", fmtPtr(got), fmtPtr(want))
			}
			return
		}
		compare(got.Elem(), want.Elem(), path, d)
	case reflect.Struct:
		for i := range got.NumField() {
			compare(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name, d)
		}
	case reflect.Slice:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			add("got %s, want %s", fmtSlice(got), fmtSlice(want))
			return
		}
		for i := range got.Len() {
			compare(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i), d)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			add("got %#v, want %#v", got.Interface(), want.Interface())
		}
	}
}

func fmtPtr(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return fmt.Sprintf("&%v", v.Elem().Interface())
}

func fmtSlice(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// race starts n goroutines at once, each calling f with its index, and
// returns their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one of errs is nil and every other is
// loser; it returns the winner's index.
func wantOneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("goroutines %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("goroutine %d: got error %v, want %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine won (all %d got %v)", len(errs), loser)
	}
	return winner
}
