package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		dialect string
		reason  string // substring of the error; "" for success
	}{
		{"sqlite://identity.db", "sqlite3", ""},
		{"sqlite3:///tmp/x.db?_busy_timeout=50", "sqlite3", ""},
		{"sqlite://:memory:", "sqlite3", ""},
		{"postgres://u:p@localhost:5432/db?sslmode=disable", "postgres", ""},
		{"postgresql://localhost/db", "postgres", ""},
		{"", "", "empty"},
		{"identity.db", "", "no scheme"},
		{"sqlite://", "", "no file path"},
		{"mysql://root@localhost/db", "", `unsupported scheme "mysql"`},
		{"postgres:///db", "", "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := ParseURL(tt.url)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("ParseURL = %v", err)
				}
				if c.Dialect != tt.dialect {
					t.Fatalf("Dialect = %q, want %q", c.Dialect, tt.dialect)
				}
				if tt.dialect == "sqlite3" && !strings.Contains(c.DSN, "_fk=1") {
					t.Fatalf("DSN %q does not enable foreign keys", c.DSN)
				}
				return
			}
			var ue *URLError
			if !errors.As(err, &ue) || !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("ParseURL = %v, want *URLError mentioning %q", err, tt.reason)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	got := Redact("postgres://app:s3cret@db:5432/identity")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "app:xxxxx@db") {
		t.Fatalf("Redact = %q", got)
	}
	_, err := ParseURL("mysql://app:s3cret@db/identity")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestOpenDBUnreachable(t *testing.T) {
	_, _, err := OpenDB(context.Background(), "postgres://app:s3cret@127.0.0.1:1/identity?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("OpenDB = %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestOpenSQLiteEnablesForeignKeys(t *testing.T) {
	db, c, err := OpenDB(context.Background(), "sqlite://"+t.TempDir()+"/fk.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var fk int
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v (dsn %s)", fk, err, c.DSN)
	}
}

// pgServer returns the PostgreSQL server of the tests, or skips.
func pgServer(t *testing.T) string {
	t.Helper()
	s := os.Getenv("IDENTITY_TEST_POSTGRES_URL")
	if s == "" {
		t.Skip("IDENTITY_TEST_POSTGRES_URL is not set")
	}
	return s
}

// randomDatabase returns the URL of a database that does not exist yet on
// server, and drops it in t.Cleanup.
func randomDatabase(t *testing.T, server, prefix string) (name, raw string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = prefix + hex.EncodeToString(b[:])
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		admin, _, err := OpenDB(context.Background(), server)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + quoteIdent(name) + ` WITH (FORCE)`); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name, u.String()
}

func TestMissingDatabase(t *testing.T) {
	server := pgServer(t)
	ctx := context.Background()
	// A name that needs quoting: upper case and a hyphen.
	name, raw := randomDatabase(t, server, "cf_Identity-Missing_")

	_, _, err := OpenDB(ctx, raw)
	var missing *MissingDatabaseError
	if !errors.As(err, &missing) || !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("OpenDB(missing database) = %v, want a *MissingDatabaseError", err)
	}
	if missing.Database != name || !strings.Contains(err.Error(), "createdb "+name) {
		t.Errorf("error = %q, want it to name %s and the fix", err, name)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Error("a missing database is reported as an unreachable server")
	}

	for i, want := range []bool{true, false} {
		created, err := CreateDatabase(ctx, raw)
		if err != nil || created != want {
			t.Fatalf("CreateDatabase #%d = %t, %v; want %t, nil", i+1, created, err, want)
		}
	}
	db, _, err := OpenDB(ctx, raw)
	if err != nil {
		t.Fatalf("OpenDB after CreateDatabase: %v", err)
	}
	defer db.Close()
	var cur string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&cur); err != nil || cur != name {
		t.Errorf("current_database() = %q, %v; want %q", cur, err, name)
	}
}

func TestCreateDatabaseNoop(t *testing.T) {
	ctx := context.Background()
	created, err := CreateDatabase(ctx, "sqlite://:memory:")
	if err != nil || created {
		t.Errorf("CreateDatabase(sqlite) = %t, %v; want false, nil", created, err)
	}
	_, err = CreateDatabase(ctx, "mysql://x")
	if !errors.Is(err, ErrBadURL) {
		t.Errorf("CreateDatabase(mysql) = %v, want ErrBadURL", err)
	}
	_, err = CreateDatabase(ctx, "postgres://127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("CreateDatabase(unreachable) = %v, want ErrUnreachable", err)
	}
}

// readOnlyPath returns a path in a folder the test process cannot write to.
func readOnlyPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	p := filepath.Join(dir, "x.db")
	if os.Geteuid() == 0 {
		// root writes anywhere but in sysfs.
		p = "/sys/cf-identity-test.db"
	}
	if f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
		_ = f.Close()
		_ = os.Remove(p) // a probe file: the skip below is what matters
		t.Skipf("%s is writable: no read-only folder to test with", p)
	}
	return p
}

func TestSQLiteFileErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		is   error
		want string
	}{
		{"read-only folder", readOnlyPath(t), fs.ErrPermission, "permission denied"},
		{"under a file", filepath.Join(file, "x.db"), nil, "not a directory"},
		{"missing folder", filepath.Join(t.TempDir(), "missing", "x.db"), fs.ErrNotExist, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := OpenDB(context.Background(), "sqlite://"+tt.path)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("OpenDB = %v, want ErrUnreachable", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("OpenDB = %v, want it to wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.path+": "+tt.want) {
				t.Errorf("OpenDB = %q, want %q with the path", err, tt.want)
			}
		})
	}
}
