package apikey_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/apikey"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/internal/testdb"
)

// FuzzAuthenticate checks that Authenticate never panics on any token,
// that it refuses every token but the one real key with an error matching
// ErrInvalidKey, and that the real key authenticates its owner.
func FuzzAuthenticate(f *testing.F) {
	ctx := context.Background()
	client, _ := testdb.Migrated(f, testdb.New(f, dialect.SQLite))
	res, err := bootstrap.Superadmin(ctx, client, "fuzz@example.com", "Fuzz")
	if err != nil {
		f.Fatal(err)
	}
	key := res.Key
	prefix, secret, _ := strings.Cut(strings.TrimPrefix(key, apikey.Kind+"_"), "_")
	for _, s := range []string{
		key, key + "x", key[:len(key)-1], strings.ToUpper(key), apikey.Kind + "_" + prefix + "_" + strings.Repeat("a", len(secret)),
		apikey.Kind + "_" + strings.Repeat("a", len(prefix)) + "_" + secret, "Bearer " + key, "", "cfk_", "cfk__", "cfk_abc_def",
		"cfk_aaaaaaaa_" + strings.Repeat("\x00", 52), "xyz_" + prefix + "_" + secret, strings.Replace(key, "_", "-", -1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		a, err := apikey.Authenticate(ctx, client, token, time.Now())
		if token == key {
			if err != nil || a == nil || !a.IsSuperadmin() {
				t.Fatalf("Authenticate(the real key) = %v, %v", a, err)
			}
			return
		}
		if err == nil || a != nil {
			t.Fatalf("Authenticate(%q) = %v, %v; want it refused", token, a, err)
		}
		if !errors.Is(err, apikey.ErrInvalidKey) {
			t.Fatalf("Authenticate(%q) = %v (%T), want an error matching ErrInvalidKey", token, err, err)
		}
	})
}
