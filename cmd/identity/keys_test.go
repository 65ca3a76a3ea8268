package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/storage"
)

// newKey returns a master key in base64.
func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func writeKeyFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, file, 0o600)
}

// The master key variable and the key file hold one key or several, the
// current key first; errors name the entry or line, never a key.
func TestMasterKeys(t *testing.T) {
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	tests := []struct {
		name        string
		value, file string // file: the content of a key file
		want        []string
		err         string
	}{
		{"one key", k1, "", []string{k1}, ""},
		{"two keys", k1 + "," + k2, "", []string{k1, k2}, ""},
		{"spaces and newline", k1 + " , " + k2 + " ," + k3 + "\n", "", []string{k1, k2, k3}, ""},
		{"one per line", k2 + "\n" + k1, "", []string{k2, k1}, ""},
		{"empty entry", k1 + ",," + k2, "", []string{k1, k2}, ""},
		{"raw base64", strings.TrimRight(k1, "="), "", []string{k1}, ""},
		{"bad entry", k1 + ",not base64!", "", nil, "IDENTITY_MASTER_KEY entry 2 is not base64"},
		{"short entry", k1 + "," + short, "", nil, "IDENTITY_MASTER_KEY entry 2 holds 5 bytes; want at least 32"},
		{"short single", short, "", nil, "IDENTITY_MASTER_KEY holds 5 bytes"},
		{"repeated entry", k1 + "," + k2 + "," + k1, "", nil, "IDENTITY_MASTER_KEY entry 3 repeats IDENTITY_MASTER_KEY entry 1"},
		{"only commas", " , ,", "", nil, "IDENTITY_MASTER_KEY holds no key"},

		{"file one key", "", k1 + "\n", []string{k1}, ""},
		{"file comments", "", "# current, added 2026-01-02\n\n" + k2 + "\n  # the old key\n" + k1 + "\r\n\n", []string{k2, k1}, ""},
		{"file bad line", "", "# keys\n" + k1 + "\n\nnot base64!\n", nil, file + " line 4 is not base64"},
		{"file short line", "", k1 + "\n" + short + "\n", nil, file + " line 2 holds 5 bytes"},
		{"file repeated", "", k1 + "\n\n" + k1 + "\n", nil, file + " line 3 repeats " + file + " line 1"},
		{"file commas", "", k1 + "," + k2 + "\n", nil, file + " line 1 is not base64"},
		{"file only comments", "", "# nothing yet\n\n", nil, file + " holds no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := ""
			if tt.value == "" {
				writeKeyFile(t, file, tt.file)
				from = file
			}
			keys, _, err := masterKeys(tt.value, from, "sqlite://unused.db", func(string) { t.Error("created a key file") })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("masterKeys = %d keys, %v; want an error saying %q", len(keys), err, tt.err)
				}
				for _, k := range []string{k1, k2, k3, strings.TrimRight(k1, "=")} {
					if strings.Contains(err.Error(), k) {
						t.Errorf("the error %q shows a key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, base64.StdEncoding.EncodeToString(k))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("keys %v, want %v", got, tt.want)
			}
		})
	}
}

// Rotating the master key: prepend a new key to the key file, run keys
// rotate, remove the old key.
func TestKeysRotate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		clearEnv(t)
		t.Setenv("IDENTITY_MASTER_KEY", "")
		t.Setenv("IDENTITY_RESEAL_BATCH", "")
		t.Setenv("IDENTITY_RESEAL_ONLY", "")
		ctx := context.Background()
		keyA, keyB := newKey(t), newKey(t)
		rawA, _ := base64.StdEncoding.DecodeString(keyA)
		rawB, _ := base64.StdEncoding.DecodeString(keyB)
		sealA, err := secret.NewSealer(rawA)
		if err != nil {
			t.Fatal(err)
		}
		sealB, err := secret.NewSealer(rawB)
		if err != nil {
			t.Fatal(err)
		}
		idA, idB := sealA.KeyID(), sealB.KeyID()
		file := filepath.Join(t.TempDir(), "master-keys")
		writeKeyFile(t, file, keyA+"\n")
		keys := func(args ...string) (int, string, string) {
			t.Helper()
			code, out, stderr := cli(t, append(append([]string{"keys"}, args...), "--database-url", target.URL, "--master-key-file", file)...)
			assertClean(t, stderr)
			for _, k := range []string{keyA, keyB} {
				if strings.Contains(stderr+out, k) {
					t.Errorf("the output shows a master key:\n%s%s", out, stderr)
				}
			}
			return code, out, stderr
		}

		// One key: a new signing key, nothing to re-seal.
		code, out, stderr := keys("rotate")
		if code != 0 || !strings.HasPrefix(out, "sgk_") ||
			!strings.HasSuffix(stderr, "re-sealed 0 signing keys and 0 OAuth tokens under master key "+idA+"; nothing remains under older keys\n") {
			t.Fatalf("keys rotate: exit %d, stdout %q\n%s", code, out, stderr)
		}

		// OAuth tokens sealed under A, as the sign-in with a provider seals them.
		client, _, _, err := storage.Open(ctx, target.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		sys := actor.NewContext(ctx, actor.System("test"))
		u := client.User.Create().SetEmail("lin@example.com").SetStatus(user.StatusActive).SaveX(sys)
		oac := pulid.New("oac")
		seal := func(plain, column string) secret.Sealed {
			v, err := sealA.Seal([]byte(plain), string(oac)+":"+column)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		client.OAuthAccount.Create().SetID(oac).SetUserID(u.ID).SetProvider("github").SetProviderUserID("42").
			SetAccessToken(seal("gho_access", "access_token")).SetRefreshToken(seal("ghr_refresh", "refresh_token")).
			SaveX(sys)

		// The new key goes first; the old one stays to open.
		writeKeyFile(t, file, "# current\n"+keyB+"\n# previous: remove after keys rotate\n"+keyA+"\n")
		code, out, stderr = keys("status")
		if code != 0 || !regexp.MustCompile(`(?m)^`+idB+` +0  current$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^`+idA+` +4  previous 1$`).MatchString(out) ||
			!strings.Contains(stderr, "4 values are not under the current master key "+idB) {
			t.Fatalf("keys status: exit %d\n%s%s", code, out, stderr)
		}

		code, out, stderr = keys("rotate", "--reseal-only", "--batch", "1")
		if code != 0 || out != "" || strings.Contains(stderr, "new signing key") ||
			!strings.HasSuffix(stderr, "re-sealed 2 signing keys and 2 OAuth tokens under master key "+idB+
				"; nothing remains under older keys: you may remove them from the key file "+file+"\n") {
			t.Fatalf("keys rotate --reseal-only: exit %d, stdout %q\n%s", code, out, stderr)
		}
		code, out, stderr = keys("status")
		if code != 0 || !regexp.MustCompile(`(?m)^`+idB+` +4  current$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^`+idA+` +0  previous 1$`).MatchString(out) || stderr != "" {
			t.Fatalf("keys status after the reseal: exit %d\n%s%s", code, out, stderr)
		}

		// The old key can go; the new one alone opens everything.
		writeKeyFile(t, file, keyB+"\n")
		code, out, stderr = keys("rotate")
		if code != 0 || !strings.HasPrefix(out, "sgk_") ||
			!strings.HasSuffix(stderr, "re-sealed 0 signing keys and 0 OAuth tokens under master key "+idB+"; nothing remains under older keys\n") {
			t.Fatalf("keys rotate with the new key alone: exit %d, stdout %q\n%s", code, out, stderr)
		}
		a := client.OAuthAccount.GetX(sys, oac)
		for col, v := range map[string]secret.Sealed{"access_token": a.AccessToken, "refresh_token": a.RefreshToken} {
			if p, err := sealB.Open(v, string(oac)+":"+col); err != nil || !strings.HasPrefix(string(p), "gh") {
				t.Errorf("%s after the rotation: %q, %v", col, p, err)
			}
		}
		for _, k := range client.SigningKey.Query().AllX(sys) {
			if _, err := sealB.Open(k.PrivateKey, string(k.ID)); err != nil {
				t.Errorf("signing key %s does not open with the new key: %v", k.ID, err)
			}
		}
		if n := client.Activity.Query().CountX(sys); n == 0 {
			t.Error("no activities")
		}
		var resealed []*ent.Activity
		for _, act := range client.Activity.Query().AllX(sys) {
			if act.Verb == "keys.resealed" {
				resealed = append(resealed, act)
			}
		}
		if len(resealed) != 1 || resealed[0].ActorLabel != "cli keys rotate" || resealed[0].Channel != "cli" || resealed[0].ObjectID != idB {
			t.Errorf("keys.resealed activities: %+v; want one, of cli keys rotate", resealed)
		}

		// The old key alone no longer opens the signing keys.
		writeKeyFile(t, file, keyA+"\n")
		if code, _, stderr := keys("status"); code != 1 || !strings.Contains(stderr, "does not open the stored signing keys") {
			t.Errorf("keys status with the old key: exit %d\n%s", code, stderr)
		}
		writeKeyFile(t, file, keyB+"\n")
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"rotate", "--batch", "0"}, "--batch 0: want at least 1"},
			{[]string{"status", "--batch", "5"}, "flag provided but not defined: -batch"},
			{[]string{"rotate", "now"}, "keys rotate takes no arguments"},
			{[]string{"spin"}, "want identity keys rotate or identity keys status"},
		} {
			if code, _, stderr := keys(tt.args...); code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("keys %v: exit %d\n%s; want 2 and %q", tt.args, code, stderr, tt.want)
			}
		}
	})
}
