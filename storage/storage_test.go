package storage

import (
	"context"
	"errors"
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
