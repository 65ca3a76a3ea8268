package secret

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestArgon2ParamsValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Argon2Params
		wantErr error  // nil: valid
		naming  string // word the error message must contain
	}{
		{"minimum", MinArgon2, nil, ""},
		{"default", DefaultArgon2, nil, ""},
		{"more threads", Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 4}, nil, ""},
		{"largest", Argon2Params{Memory: 4 * 1024 * 1024, Time: 100, Threads: 255}, nil, ""},
		{"memory below", Argon2Params{Memory: 19*1024 - 1, Time: 2, Threads: 1}, ErrWeakParams, "memory"},
		{"time below", Argon2Params{Memory: 19 * 1024, Time: 1, Threads: 1}, ErrWeakParams, "time"},
		{"zero threads", Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 0}, ErrWeakParams, "threads"},
		{"zero value", Argon2Params{}, ErrWeakParams, "memory"},
		{"memory above 4 GiB", Argon2Params{Memory: 4*1024*1024 + 1, Time: 2, Threads: 1}, ErrExcessiveParams, "memory"},
		{"time above 100", Argon2Params{Memory: 19 * 1024, Time: 101, Threads: 1}, ErrExcessiveParams, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want nil", tt.p, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Validate(%v) = %v, want %v", tt.p, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.naming) {
				t.Errorf("Validate(%v) = %q, want it to name %q", tt.p, err, tt.naming)
			}
		})
	}
}

func TestArgon2ParamsString(t *testing.T) {
	if got, want := DefaultArgon2.String(), "m=65536,t=2,p=1"; got != want {
		t.Errorf("DefaultArgon2.String() = %q, want %q", got, want)
	}
	if got, want := MinArgon2.String(), "m=19456,t=2,p=1"; got != want {
		t.Errorf("MinArgon2.String() = %q, want %q", got, want)
	}
}

func TestHashPasswordWithRefuses(t *testing.T) {
	tests := []struct {
		name     string
		password string
		p        Argon2Params
		want     error
	}{
		{"empty password", "", MinArgon2, ErrEmptyPassword},
		{"weak params", "correct horse battery", Argon2Params{Memory: 1024, Time: 1, Threads: 1}, ErrWeakParams},
		{"excessive params", "correct horse battery", Argon2Params{Memory: 19 * 1024, Time: 1000, Threads: 1}, ErrExcessiveParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashPasswordWith(tt.password, tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("HashPasswordWith = %v, want %v", err, tt.want)
			}
			if !h.IsZero() {
				t.Errorf("HashPasswordWith returned a hash with its error")
			}
		})
	}
	if _, err := HashPassword(""); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("HashPassword(\"\") = %v, want ErrEmptyPassword", err)
	}
}

func TestPasswordRoundTrip(t *testing.T) {
	const pw = "correct horse battery"
	h, err := HashPasswordWith(pw, MinArgon2)
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.Value()
	if err != nil {
		t.Fatal(err)
	}
	s := v.(string)
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(s, "horse") {
		t.Fatalf("stored value %q is not an argon2id hash with MinArgon2", s)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{pw, true},
		{"correct horse batterY", false},
		{"correct horse batter", false},
		{pw + " ", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := h.Verify(tt.pw); got != tt.want {
			t.Errorf("Verify(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
	if h.NeedsRehash(MinArgon2) {
		t.Error("NeedsRehash(MinArgon2) of a MinArgon2 hash = true")
	}
	if !h.NeedsRehash(DefaultArgon2) {
		t.Error("NeedsRehash(DefaultArgon2) of a MinArgon2 hash = false")
	}

	// Same password, new salt: a different hash that verifies too.
	h2, err := HashPasswordWith(pw, MinArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if v2, _ := h2.Value(); v2 == v || !h2.Verify(pw) {
		t.Errorf("second hash %q: equal to the first or does not verify", v2)
	}

	var back PasswordHash
	if err := back.Scan(s); err != nil || !back.Verify(pw) {
		t.Fatalf("Scan(Value()) round trip: %v", err)
	}
	if err := back.Scan([]byte(s)); err != nil || !back.Verify(pw) {
		t.Fatalf("Scan([]byte) round trip: %v", err)
	}
	if got := fmt.Sprint(h); got != "<redacted>" {
		t.Errorf("fmt.Sprint(hash) = %q", got)
	}
	if j, _ := json.Marshal(struct{ H PasswordHash }{h}); strings.Contains(string(j), "argon2") {
		t.Errorf("json.Marshal shows the hash: %s", j)
	}
	if (PasswordHash{}).Verify("") {
		t.Error("zero PasswordHash verifies the empty password")
	}
}

func TestHashPasswordUsesDefault(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if h.NeedsRehash(DefaultArgon2) {
		t.Errorf("HashPassword's hash needs rehashing with DefaultArgon2")
	}
	if !h.Verify("correct horse battery") {
		t.Error("HashPassword's hash does not verify")
	}
}

// phcString builds an argon2id-like PHC string with the given pieces and
// zero-filled salt and key.
func phcString(alg, version, params string, saltLen, keyLen int) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$%s$%s$%s$%s$%s", alg, version, params,
		enc.EncodeToString(make([]byte, saltLen)), enc.EncodeToString(make([]byte, keyLen)))
}

func TestNeedsRehash(t *testing.T) {
	p := MinArgon2
	tests := []struct {
		name string
		phc  string
		want bool
	}{
		{"same", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 32), false},
		{"longer salt", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 32, 32), false},
		{"more memory", phcString("argon2id", "v=19", "m=65536,t=2,p=1", 16, 32), true},
		{"less memory", phcString("argon2id", "v=19", "m=8192,t=2,p=1", 16, 32), true},
		{"other time", phcString("argon2id", "v=19", "m=19456,t=3,p=1", 16, 32), true},
		{"other threads", phcString("argon2id", "v=19", "m=19456,t=2,p=2", 16, 32), true},
		{"16-byte key", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 16), true},
		{"64-byte key", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 64), true},
		{"8-byte salt", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 8, 32), true},
		{"argon2i", phcString("argon2i", "v=19", "m=19456,t=2,p=1", 16, 32), true},
		{"version 16", phcString("argon2id", "v=16", "m=19456,t=2,p=1", 16, 32), true},
		{"reordered params", phcString("argon2id", "v=19", "t=2,m=19456,p=1", 16, 32), true},
		{"extra param", phcString("argon2id", "v=19", "m=19456,t=2,p=1,k=1", 16, 32), true},
		{"padded base64", "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), true},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", true},
		{"garbage", "not a hash", true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := PasswordHash{phc: tt.phc}
			if got := h.NeedsRehash(p); got != tt.want {
				t.Errorf("NeedsRehash(%v) of %q = %v, want %v", p, tt.phc, got, tt.want)
			}
		})
	}
}

// TestVerifyOldParams: a hash below today's minimum still verifies, so the
// caller can replace it.
func TestVerifyOldParams(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("old password"), salt, 1, 1024, 1, 32)
	enc := base64.RawStdEncoding
	h := PasswordHash{phc: "$argon2id$v=19$m=1024,t=1,p=1$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)}
	if !h.Verify("old password") {
		t.Fatal("hash with m=1024,t=1,p=1 does not verify")
	}
	if h.Verify("other password") {
		t.Fatal("hash with m=1024,t=1,p=1 verifies a wrong password")
	}
	if !h.NeedsRehash(MinArgon2) {
		t.Error("NeedsRehash(MinArgon2) of an m=1024,t=1,p=1 hash = false")
	}
}

// TestVerifyRefusesAbsurdParams checks that stored hashes with absurd
// parameters are refused without being computed: the memory Verify allocates
// stays far below what the parameters ask for (a computed m=4 GiB would
// allocate 4 GiB; a computed t=4294967295 would not return).
func TestVerifyRefusesAbsurdParams(t *testing.T) {
	tests := []struct {
		name string
		phc  string
	}{
		{"memory 4 GiB + 1 KiB", phcString("argon2id", "v=19", "m=4194305,t=2,p=1", 16, 32)},
		{"memory max uint32", phcString("argon2id", "v=19", "m=4294967295,t=2,p=1", 16, 32)},
		{"memory overflows uint32", phcString("argon2id", "v=19", "m=4294967296,t=2,p=1", 16, 32)},
		{"time 101", phcString("argon2id", "v=19", "m=19456,t=101,p=1", 16, 32)},
		{"time max uint32", phcString("argon2id", "v=19", "m=19456,t=4294967295,p=1", 16, 32)},
		{"time 0", phcString("argon2id", "v=19", "m=19456,t=0,p=1", 16, 32)},
		{"threads 0", phcString("argon2id", "v=19", "m=19456,t=2,p=0", 16, 32)},
		{"threads 256", phcString("argon2id", "v=19", "m=19456,t=2,p=256", 16, 32)},
		{"negative memory", phcString("argon2id", "v=19", "m=-1,t=2,p=1", 16, 32)},
		{"empty key", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 0)},
		{"1000-byte key", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 1000)},
		{"65-byte key", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 16, 65)},
		{"empty salt", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 0, 32)},
		{"huge salt", phcString("argon2id", "v=19", "m=19456,t=2,p=1", 100000, 32)},
		{"bad base64", "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!"},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(make([]byte, 16)) + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := PasswordHash{phc: tt.phc}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ok := h.Verify("password")
			runtime.ReadMemStats(&after)
			if ok {
				t.Fatal("Verify = true")
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Errorf("Verify allocated %d bytes; it should refuse before hashing", d)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	p := Argon2Params{Memory: 19 * 1024, Time: 3, Threads: 1} // a key no other test uses
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { VerifyDummy("correct horse battery", p) })
	}
	wg.Wait()
	v, ok := dummyHashes.Load(p)
	if !ok {
		t.Fatal("VerifyDummy cached no hash")
	}
	d := v.(*dummyHash)
	if d.h.IsZero() || d.h.NeedsRehash(p) {
		t.Fatalf("dummy hash is not a hash made with %v", p)
	}
	if d.h.Verify("correct horse battery") || d.h.Verify("") {
		t.Error("dummy hash verifies a chosen password")
	}
	// Parameters Verify would refuse cost nothing and cache nothing.
	bad := Argon2Params{Memory: 19 * 1024, Time: 0, Threads: 1}
	VerifyDummy("x", bad)
	if _, ok := dummyHashes.Load(bad); ok {
		t.Error("VerifyDummy cached a hash for unusable parameters")
	}
}

func BenchmarkHash(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Argon2Params
	}{{"MinArgon2", MinArgon2}, {"DefaultArgon2", DefaultArgon2}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := HashPasswordWith("correct horse battery", bc.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
