package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

// cheap keeps argon2 fast under -race; the cost parameters do not change
// what is being tested.
var cheap = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newHasher(p Argon2Params, n int) *hasher {
	return &hasher{params: p, sem: make(chan struct{}, n), rand: rand.Reader}
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := newHasher(cheap, 1)
	stored, err := h.hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash = %q, want the PHC argon2id prefix", stored)
	}
	p, err := parsePHC(stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.salt) != saltLen || len(p.hash) != hashLen {
		t.Errorf("salt %d bytes, hash %d bytes; want %d and %d", len(p.salt), len(p.hash), saltLen, hashLen)
	}
	if p.String() != stored {
		t.Errorf("re-encoded %q, want %q", p.String(), stored)
	}

	tests := []struct {
		name      string
		h         *hasher
		password  string
		wantOK    bool
		wantStale bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse battery!", false, false},
		{"empty", h, "", false, false},
		// Parameters come from the stored hash: a hasher configured
		// differently still verifies, and says the hash is stale.
		{"other params right", newHasher(Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2}, 1), "correct horse battery", true, true},
		{"other params wrong", newHasher(Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2}, 1), "nope", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := tt.h.verify(ctx, tt.password, stored)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || stale != tt.wantStale {
				t.Errorf("verify = ok %v stale %v, want ok %v stale %v", ok, stale, tt.wantOK, tt.wantStale)
			}
		})
	}

	// Same password, fresh salt: a different string.
	again, err := h.hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if again == stored {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

// The reference implementation's argon2id vector (phc-winner-argon2
// test.c: "password", "somesalt", t=2, m=64 MiB, p=1) verifies: stored
// hashes are interchangeable with other argon2id libraries.
func TestVerifyReferenceVector(t *testing.T) {
	h := newHasher(cheap, 1)
	const stored = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, stale, err := h.verify(context.Background(), "password", stored)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Error("reference vector does not verify")
	}
	if !stale {
		t.Error("stale = false for a hash under other parameters and an 8-byte salt")
	}
}

func TestParsePHCErrors(t *testing.T) {
	const salt, sum = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "malformed argon2id hash: want 5 '$'-separated fields"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuu5Zr1oQf0DpQ4P5Qf0kqYH2S4uMbEXy", "malformed argon2id hash: want 5 '$'-separated fields"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + sum, `malformed argon2id hash: algorithm "argon2i", want argon2id`},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + sum, `malformed argon2id hash: version "v=16", want v=19`},
		{"no leading $", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum + "$", "malformed argon2id hash: want 5 '$'-separated fields"},
		{"missing p", "$argon2id$v=19$m=64,t=1$" + salt + "$" + sum, `malformed argon2id hash: want m, t and p parameters, got "m=64,t=1"`},
		{"repeated m", "$argon2id$v=19$m=64,m=64,t=1,p=1$" + salt + "$" + sum, `malformed argon2id hash: parameter "m=64"`},
		{"unknown param", "$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + sum, `malformed argon2id hash: unknown parameter "x"`},
		{"not a number", "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + sum, `malformed argon2id hash: parameter "m=lots" is not a number`},
		{"no equals", "$argon2id$v=19$m64,t=1,p=1$" + salt + "$" + sum, `malformed argon2id hash: parameter "m64"`},
		{"t zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + sum, "malformed argon2id hash: t=0 outside 1–64"},
		{"t huge", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + sum, "malformed argon2id hash: t=1000 outside 1–64"},
		{"p zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + sum, "malformed argon2id hash: p=0"},
		{"p huge", "$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + sum, "malformed argon2id hash: parallelism 300 above 255"},
		{"m too small", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + sum, "malformed argon2id hash: m=8 outside 16–1048576"},
		{"m 4 GiB", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + sum, "malformed argon2id hash: m=4194304 outside 8–1048576"},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + sum, "malformed argon2id hash: salt is not base64 of at least 8 bytes"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$YWJj$" + sum, "malformed argon2id hash: salt is not base64 of at least 8 bytes"},
		{"padded hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum + "=", "malformed argon2id hash: hash is not base64 of 16–64 bytes"},
		{"short hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$YWJj", "malformed argon2id hash: hash is not base64 of 16–64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePHC(tt.in)
			if err == nil {
				t.Fatalf("parsePHC(%q) succeeded", tt.in)
			}
			if !errors.Is(err, errBadPHC) {
				t.Errorf("error %v does not wrap errBadPHC", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

// The semaphore bounds concurrent hashes, and waiting for it honours ctx.
func TestHashSemaphoreHonoursContext(t *testing.T) {
	h := newHasher(cheap, 1)
	h.sem <- struct{}{} // someone else is hashing
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.hash(ctx, "whatever password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hash with a full semaphore = %v, want DeadlineExceeded", err)
	}
	if _, _, err := h.verify(ctx, "x", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("verify with a full semaphore = %v, want DeadlineExceeded", err)
	}
	<-h.sem
	if _, err := h.hash(context.Background(), "whatever password"); err != nil {
		t.Errorf("hash after release = %v", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		password, employeeID, want string // want "" = accepted
	}{
		{"abcdefghij", "HR012023001", ""},
		{"工牌工牌工牌工牌工牌", "", ""}, // 10 runes, 30 bytes
		{"abcdefghi", "", "password: must be at least 10 characters"},
		{"", "", "password: must be at least 10 characters"},
		{"工牌工牌工牌工牌工", "", "password: must be at least 10 characters"},
		{strings.Repeat("x", 513), "", "password: must be at most 512 bytes"},
		{"HR012023001", "HR012023001", "password: must not be the employee ID"},
		{"hr012023001", "HR012023001", "password: must not be the employee ID"},
		{"\xff\xfe" + strings.Repeat("x", 10), "", "password: is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			err := checkPasswordPolicy(tt.password, tt.employeeID)
			if tt.want == "" {
				if err != nil {
					t.Errorf("policy(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "password" {
				t.Fatalf("policy(%q) = %v, want a FieldError on password", tt.password, err)
			}
			if err.Error() != tt.want {
				t.Errorf("policy(%q)\n got %q\nwant %q", tt.password, err, tt.want)
			}
		})
	}
}
