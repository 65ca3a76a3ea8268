package secret

import (
	"errors"
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	tok, prefix, err := NewToken("cfk")
	if err != nil {
		t.Fatal(err)
	}
	got, err := SplitToken("cfk", tok)
	if err != nil || got != prefix {
		t.Fatalf("SplitToken(%q) = %q, %v; want %q", tok, got, err, prefix)
	}
	bad := []string{"", "cfk_", "cfk_abc_def", "xyz_" + strings.TrimPrefix(tok, "cfk_"), tok + "x", strings.Replace(tok, "_", "-", -1)}
	for _, b := range bad {
		if _, err := SplitToken("cfk", b); !errors.Is(err, ErrMalformed) {
			t.Errorf("SplitToken(%q) = %v, want ErrMalformed", b, err)
		}
	}
}

func TestDigest(t *testing.T) {
	d := DigestOf("token-1")
	tests := []struct {
		token string
		want  bool
	}{
		{"token-1", true},
		{"token-2", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := d.Matches(tt.token); got != tt.want {
			t.Errorf("Matches(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
	if (Digest{}).Matches("") {
		t.Error("zero Digest matches the empty token")
	}
	if d.String() != "<redacted>" {
		t.Errorf("String() = %q", d.String())
	}
	v, err := d.Value()
	if err != nil {
		t.Fatal(err)
	}
	var back Digest
	if err := back.Scan(v); err != nil || !back.Matches("token-1") {
		t.Fatalf("Scan(Value()) round trip failed: %v", err)
	}
}

func TestSealer(t *testing.T) {
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("NewSealer accepted a short key")
	}
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer([]byte("fedcba9876543210fedcba9876543210"))
	box, err := s.Seal([]byte("provider-access-token"), "oac_1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := box.Value()
	if strings.Contains(string(raw.([]byte)), "provider-access-token") {
		t.Fatal("sealed value holds the plaintext")
	}
	tests := []struct {
		name    string
		sealer  *Sealer
		box     Sealed
		context string
		ok      bool
	}{
		{"same key and context", s, box, "oac_1", true},
		{"other context", s, box, "oac_2", false},
		{"other key", other, box, "oac_1", false},
		{"tampered", s, Sealed{box: append(append([]byte(nil), box.box[:len(box.box)-1]...), box.box[len(box.box)-1]^1)}, "oac_1", false},
		{"empty", s, Sealed{}, "oac_1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.box, tt.context)
			if tt.ok && (err != nil || string(got) != "provider-access-token") {
				t.Fatalf("Open = %q, %v", got, err)
			}
			if !tt.ok && !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}
