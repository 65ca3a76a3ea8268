package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// Key material of the rotation tests.
var (
	keyA = []byte("key A: 0123456789abcdef0123456789abcdef")
	keyB = []byte("key B: fedcba9876543210fedcba9876543210")
	keyC = []byte("key C: 00112233445566778899aabbccddeeff")
)

func mustSealer(t *testing.T, current []byte, previous ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacySeal seals the way every Sealer did before key IDs (nonce ||
// ciphertext, the context alone as additional data), written here again
// so that the values already in databases keep opening.
func legacySeal(t *testing.T, material, plaintext []byte, context string, nonce []byte) Sealed {
	t.Helper()
	k := sha256.Sum256(material)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	if nonce == nil {
		nonce = make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
	}
	return Sealed{box: aead.Seal(append([]byte(nil), nonce...), nonce, plaintext, []byte(context))}
}

const (
	plain = "provider-refresh-token"
	ctx1  = "oac_1:refresh_token"
)

// Every box opens with every Sealer that holds its key, whatever the order
// of the keys, and with no other; Reseal moves it under the current key
// once.
func TestSealerRotation(t *testing.T) {
	idA, idB := mustSealer(t, keyA).KeyID(), mustSealer(t, keyB).KeyID()
	newA, err := mustSealer(t, keyA).Seal([]byte(plain), ctx1)
	if err != nil {
		t.Fatal(err)
	}
	newB, err := mustSealer(t, keyB, keyA).Seal([]byte(plain), ctx1)
	if err != nil {
		t.Fatal(err)
	}
	boxes := []struct {
		name   string
		box    Sealed
		key    string // the material's name
		keyID  string // of the header; "" for legacy
		legacy bool
	}{
		{"legacy A", legacySeal(t, keyA, []byte(plain), ctx1, nil), "A", "", true},
		{"legacy B", legacySeal(t, keyB, []byte(plain), ctx1, nil), "B", "", true},
		{"new A", newA, "A", idA, false},
		{"new B", newB, "B", idB, false},
	}
	sealers := []struct {
		name string
		keys []string // current first
	}{
		{"A", []string{"A"}},
		{"B", []string{"B"}},
		{"C", []string{"C"}},
		{"A,B", []string{"A", "B"}},
		{"B,A", []string{"B", "A"}},
		{"C,A", []string{"C", "A"}},
		{"C,B,A", []string{"C", "B", "A"}},
		{"A,C", []string{"A", "C"}},
	}
	material := map[string][]byte{"A": keyA, "B": keyB, "C": keyC}
	for _, b := range boxes {
		if got := b.box.KeyID(); got != b.keyID {
			t.Errorf("%s: KeyID() = %q, want %q", b.name, got, b.keyID)
		}
		for _, sc := range sealers {
			t.Run(b.name+" with "+sc.name, func(t *testing.T) {
				var previous [][]byte
				for _, k := range sc.keys[1:] {
					previous = append(previous, material[k])
				}
				s := mustSealer(t, material[sc.keys[0]], previous...)
				holds := strings.Contains(strings.Join(sc.keys, ","), b.key)
				current := sc.keys[0] == b.key && !b.legacy

				got, err := s.Open(b.box, ctx1)
				switch {
				case holds && (err != nil || string(got) != plain):
					t.Fatalf("Open = %q, %v; want the plaintext", got, err)
				case !holds && !errors.Is(err, ErrOpen):
					t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
				}
				if s.Current(b.box) != current {
					t.Errorf("Current = %v, want %v", !current, current)
				}
				if _, err := s.Open(b.box, "oac_2:refresh_token"); !errors.Is(err, ErrOpen) {
					t.Errorf("Open with another context: %v, want ErrOpen", err)
				}

				out, changed, err := s.Reseal(b.box, ctx1)
				if !holds {
					if !errors.Is(err, ErrOpen) || changed {
						t.Fatalf("Reseal = %v, %v; want ErrOpen", changed, err)
					}
					return
				}
				if err != nil || changed == current {
					t.Fatalf("Reseal = %v, %v; want changed %v", changed, err, !current)
				}
				if !changed && string(mustValue(t, out)) != string(mustValue(t, b.box)) {
					t.Error("Reseal of a current box changed it")
				}
				if !s.Current(out) || out.KeyID() != s.KeyID() {
					t.Errorf("resealed box: Current %v, KeyID %q; want true, %q", s.Current(out), out.KeyID(), s.KeyID())
				}
				// The current key alone opens the result.
				only := mustSealer(t, material[sc.keys[0]])
				if got, err := only.Open(out, ctx1); err != nil || string(got) != plain {
					t.Errorf("Open of the resealed box with the current key alone = %q, %v", got, err)
				}
				if _, err := only.Open(out, "oac_2:refresh_token"); !errors.Is(err, ErrOpen) {
					t.Errorf("the resealed box opens in another context: %v", err)
				}
				// Idempotent.
				again, changed, err := s.Reseal(out, ctx1)
				if err != nil || changed || string(mustValue(t, again)) != string(mustValue(t, out)) {
					t.Errorf("second Reseal = %v, %v; want the same box, unchanged", changed, err)
				}
			})
		}
	}
}

func mustValue(t *testing.T, s Sealed) []byte {
	t.Helper()
	v, err := s.Value()
	if err != nil {
		t.Fatal(err)
	}
	return v.([]byte)
}

// Tampered, truncated and foreign boxes do not open, and Reseal refuses
// them.
func TestSealerTampered(t *testing.T) {
	s := mustSealer(t, keyB, keyA)
	box, err := s.Seal([]byte(plain), ctx1)
	if err != nil {
		t.Fatal(err)
	}
	legacy := legacySeal(t, keyA, []byte(plain), ctx1, nil)
	flip := func(b Sealed, i int) Sealed {
		out := append([]byte(nil), b.box...)
		if i < 0 {
			i += len(out)
		}
		out[i] ^= 1
		return Sealed{box: out}
	}
	other := mustSealer(t, keyC)
	foreign, err := other.Seal([]byte(plain), ctx1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		box  Sealed
	}{
		{"magic", flip(box, 0)},
		{"version", flip(box, 1)},
		{"key ID (another known key)", func() Sealed {
			out := append([]byte(nil), box.box...)
			idA, _ := hex.DecodeString(mustSealer(t, keyA).KeyID())
			copy(out[2:headerSize], idA)
			return Sealed{box: out}
		}()},
		{"key ID (unknown)", flip(box, 3)},
		{"nonce", flip(box, headerSize)},
		{"ciphertext", flip(box, headerSize+nonceSize)},
		{"tag", flip(box, -1)},
		{"truncated", Sealed{box: box.box[:len(box.box)-1]}},
		{"header only", Sealed{box: box.box[:headerSize+nonceSize]}},
		{"legacy tampered", flip(legacy, -1)},
		{"legacy truncated", Sealed{box: legacy.box[:nonceSize+tagSize-1]}},
		{"unknown key", foreign},
		{"empty", Sealed{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := s.Open(tt.box, ctx1); !errors.Is(err, ErrOpen) {
				t.Errorf("Open = %q, %v; want ErrOpen", got, err)
			}
			if _, changed, err := s.Reseal(tt.box, ctx1); !errors.Is(err, ErrOpen) || changed {
				t.Errorf("Reseal = %v, %v; want ErrOpen", changed, err)
			}
		})
	}
}

// A legacy box whose random nonce begins like a header, even one naming a
// key of the Sealer, still opens (by trying every key), and is not taken
// for current.
func TestSealerLegacyLooksLikeHeader(t *testing.T) {
	for _, name := range []string{"current key", "previous key", "unknown key"} {
		t.Run(name, func(t *testing.T) {
			s := mustSealer(t, keyB, keyA)
			id := map[string]string{"current key": s.KeyID(), "previous key": s.KeyIDs()[1], "unknown key": "01020304"}[name]
			raw, _ := hex.DecodeString(id)
			nonce := append([]byte{boxMagic, boxVersion}, raw...)
			nonce = append(nonce, make([]byte, nonceSize-len(nonce))...)
			box := legacySeal(t, keyA, []byte(plain), ctx1, nonce)
			if box.KeyID() != id {
				t.Fatalf("the crafted box reads as %q, want %q", box.KeyID(), id)
			}
			if got, err := s.Open(box, ctx1); err != nil || string(got) != plain {
				t.Fatalf("Open = %q, %v", got, err)
			}
			out, changed, err := s.Reseal(box, ctx1)
			if err != nil || !changed || !s.Current(out) {
				t.Fatalf("Reseal = %v, %v (current %v); want a new box under the current key", changed, err, s.Current(out))
			}
		})
	}
}

// The format and the key IDs are stored: a box sealed by an earlier build
// opens, and the key ID of a key never changes.
func TestSealerGolden(t *testing.T) {
	s := mustSealer(t, []byte("golden master key of the secret package tests!"))
	if s.KeyID() != "eedc9ed8" {
		t.Errorf("KeyID() = %q, want eedc9ed8: the derivation of key IDs changed, stored values would not find their key", s.KeyID())
	}
	raw, _ := hex.DecodeString("cf01eedc9ed82ae84a0c6823a18345db02bdf2e8bbde88065a2f75eb27eed8da93e7a9a6a19f0baca27dec735f4f9b70db96")
	var box Sealed
	if err := box.Scan(raw); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(box, "oac_golden:access_token"); err != nil || string(got) != "golden plaintext" {
		t.Errorf("Open of the golden box = %q, %v", got, err)
	}
	if box.KeyID() != "eedc9ed8" || !s.Current(box) {
		t.Errorf("golden box: KeyID %q, Current %v", box.KeyID(), s.Current(box))
	}
}

func TestSealerKeyIDs(t *testing.T) {
	a, b, c := mustSealer(t, keyA).KeyID(), mustSealer(t, keyB).KeyID(), mustSealer(t, keyC).KeyID()
	hex8 := regexp.MustCompile(`^[0-9a-f]{8}$`)
	for _, id := range []string{a, b, c} {
		if !hex8.MatchString(id) {
			t.Errorf("key ID %q: want 8 hex digits", id)
		}
	}
	if a == b || b == c || a == c {
		t.Errorf("key IDs %s %s %s are not distinct", a, b, c)
	}
	s := mustSealer(t, keyC, keyB, keyA)
	if s.KeyID() != c || strings.Join(s.KeyIDs(), " ") != strings.Join([]string{c, b, a}, " ") {
		t.Errorf("KeyID %s, KeyIDs %v; want %s, [%s %s %s]", s.KeyID(), s.KeyIDs(), c, c, b, a)
	}
	// The ID is no prefix of the material, the derived key or its plain hash.
	for _, m := range [][]byte{keyA} {
		k := sha256.Sum256(m)
		kk := sha256.Sum256(k[:])
		for _, leak := range []string{hex.EncodeToString(m), hex.EncodeToString(k[:]), hex.EncodeToString(kk[:])} {
			if strings.HasPrefix(leak, a) {
				t.Errorf("key ID %s is a prefix of the key", a)
			}
		}
	}
}

func TestNewSealerRefuses(t *testing.T) {
	short := []byte("0123456789abcdef0123456789abcde") // 31 bytes
	tests := []struct {
		name     string
		current  []byte
		previous [][]byte
		want     string
	}{
		{"short current", short, nil, "the current sealing key needs at least 32 bytes, has 31"},
		{"no current", nil, [][]byte{keyA}, "the current sealing key needs at least 32 bytes, has 0"},
		{"short previous", keyA, [][]byte{keyB, short}, "previous sealing key 2 needs at least 32 bytes"},
		{"current repeated", keyA, [][]byte{keyB, keyA}, "previous sealing key 2 repeats the current sealing key"},
		{"previous repeated", keyA, [][]byte{keyB, keyC, keyB}, "previous sealing key 3 repeats previous sealing key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSealer(tt.current, tt.previous...)
			if s != nil || !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSealer = %v, %v; want ErrKey saying %q", s, err, tt.want)
			}
			for _, k := range append([][]byte{tt.current}, tt.previous...) {
				for _, enc := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k)} {
					if len(k) > 0 && strings.Contains(err.Error(), enc) {
						t.Errorf("the error %q shows a key", err)
					}
				}
			}
		})
	}
}
