package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/storage"
)

// withStdin makes --password-stdin read s.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func TestMasterKeyFile(t *testing.T) {
	clearEnv(t)
	t.Setenv("IDENTITY_MASTER_KEY", "")
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "id.db")
	keyFile := filepath.Join(dir, "id.db.master-key")

	withStdin(t, "violet cactus harbor 1987 drums\n")
	code, out, stderr := cli(t, "user", "create", "--email", "ada@example.com", "--password-stdin", "--database-url", db)
	if code != 0 {
		t.Fatalf("user create: exit %d\n%s", code, stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "usr_") {
		t.Fatalf("user create printed %q, want the user ID", out)
	}
	if strings.Contains(stderr, "violet") {
		t.Fatalf("stderr shows the password: %s", stderr)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(keyFile)

	// A second command reuses the key (and opens the signing key with it).
	code, out, stderr = cli(t, "keys", "rotate", "--database-url", db)
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "sgk_") {
		t.Fatalf("keys rotate: exit %d, stdout %q\n%s", code, out, stderr)
	}
	after, _ := os.ReadFile(keyFile)
	if string(before) != string(after) {
		t.Fatal("the key file changed")
	}

	tests := []struct {
		name string
		prep func(t *testing.T)
		args []string
		code int
		want string
	}{
		{"readable by others", func(t *testing.T) { chmod(t, keyFile, 0o644) }, nil, 1, "readable by others"},
		{"another key", func(t *testing.T) {
			t.Setenv("IDENTITY_MASTER_KEY", testMasterKey)
		}, nil, 1, "does not open the stored signing keys"},
		{"not base64", func(t *testing.T) { t.Setenv("IDENTITY_MASTER_KEY", "not base64 at all!") }, nil, 1, "not base64"},
		{"too short", func(t *testing.T) { t.Setenv("IDENTITY_MASTER_KEY", "c2hvcnQ=") }, nil, 1, "want at least 32"},
		{"both", func(t *testing.T) { t.Setenv("IDENTITY_MASTER_KEY", testMasterKey) }, []string{"--master-key-file", keyFile}, 2, "contradict"},
		{"missing file", nil, []string{"--master-key-file", filepath.Join(dir, "nope")}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chmod(t, keyFile, 0o600)
			t.Setenv("IDENTITY_MASTER_KEY", "")
			if tt.prep != nil {
				tt.prep(t)
			}
			code, _, stderr := cli(t, append([]string{"keys", "rotate", "--database-url", db}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
			assertClean(t, stderr)
		})
	}
}

func chmod(t *testing.T, f string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(f, m); err != nil {
		t.Fatal(err)
	}
}

func TestMasterKeyPostgres(t *testing.T) {
	if len(testdb.Dialects()) < 2 {
		t.Skip("needs PostgreSQL (IDENTITY_TEST_POSTGRES_URL)")
	}
	clearEnv(t)
	t.Setenv("IDENTITY_MASTER_KEY", "")
	target := testdb.New(t, "postgres")
	code, _, stderr := cli(t, "serve", "--addr", "127.0.0.1:0", "--database-url", target.URL)
	if code != 1 || !strings.Contains(stderr, "IDENTITY_MASTER_KEY_FILE") {
		t.Fatalf("exit %d, stderr %q; want 1 naming IDENTITY_MASTER_KEY_FILE", code, stderr)
	}
	if strings.Contains(stderr, "migration applied") {
		t.Fatal("serve migrated before it checked the master key")
	}
}

func TestUserCreate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		clearEnv(t)
		tests := []struct {
			name, email, stdin string
			args               []string
			code               int
			want               string
			status             user.Status
			hasPassword        bool
		}{
			{"with password", "a@example.com", "violet cactus harbor 1987 drums\n", []string{"--password-stdin"}, 0, "with a password", user.StatusActive, true},
			{"pending without password", "b@example.com", "", []string{"--status", "pending"}, 0, "without a password", user.StatusPending, false},
			{"common password", "c@example.com", "password1234\n", []string{"--password-stdin"}, 1, "too common", "", false},
			{"short password", "d@example.com", "short\n", []string{"--password-stdin"}, 1, "at least 12", "", false},
			{"personal password", "eve.smith@example.com", "eve.smith-2024!\n", []string{"--password-stdin"}, 1, "email", "", false},
			{"empty stdin", "e@example.com", "", []string{"--password-stdin"}, 2, "read no password", "", false},
			{"bad status", "f@example.com", "", []string{"--status", "banned"}, 2, "want pending or active", "", false},
			{"no email", "", "", nil, 2, "needs --email", "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				withStdin(t, tt.stdin)
				args := append([]string{"user", "create", "--database-url", target.URL}, tt.args...)
				if tt.email != "" {
					args = append(args, "--email", tt.email)
				}
				if tt.code != 2 {
					// The database must exist; bootstrap-free setups migrate first.
					if c, _, e := cli(t, "migrate", "apply", "--database-url", target.URL); c != 0 {
						t.Fatalf("migrate apply: %s", e)
					}
				}
				code, _, stderr := cli(t, args...)
				if code != tt.code || !strings.Contains(stderr, tt.want) {
					t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
				}
				if strings.TrimSpace(tt.stdin) != "" && strings.Contains(stderr, strings.TrimSpace(tt.stdin)) {
					t.Fatalf("stderr shows the password: %s", stderr)
				}
				if tt.code == 2 {
					return
				}
				client, _, _, err := storage.Open(context.Background(), target.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				ctx := actor.NewContext(context.Background(), actor.System("test"))
				u, err := client.User.Query().Where(user.Email(tt.email)).Only(ctx)
				if tt.code != 0 {
					if err == nil {
						t.Fatalf("a refused user create wrote user %s", u.ID)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if u.Status != tt.status || u.PasswordHash.IsZero() == tt.hasPassword {
					t.Fatalf("user %s: status %s, password set %v; want %s, %v", u.ID, u.Status, !u.PasswordHash.IsZero(), tt.status, tt.hasPassword)
				}
				if tt.hasPassword && !u.PasswordHash.Verify(strings.TrimSpace(tt.stdin)) {
					t.Fatal("the stored hash does not verify the password")
				}
			})
		}
	})
}
