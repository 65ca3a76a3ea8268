package storage

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
)

// FuzzParseURL checks that ParseURL never panics, that every refusal is a
// *URLError wrapping ErrBadURL, and that neither its message nor an
// accepted Config's Redacted shows the URL's password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"sqlite://identity.db", "sqlite://:memory:", "sqlite3:///tmp/x.db?_busy_timeout=50", "sqlite://", "sqlite://x.db?%zz",
		"postgres://u:s3cret@localhost:5432/db?sslmode=disable", "postgresql://localhost/db", "postgres:///db", "postgres://[::1/db",
		"mysql://root:pw@host/db", "identity.db", "", "://", "postgres://u:p%zz@h/db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseURL(raw)
		password := ""
		if u, perr := url.Parse(raw); perr == nil && u.User != nil {
			password, _ = u.User.Password()
		}
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) || !errors.Is(err, ErrBadURL) {
				t.Fatalf("ParseURL(%q) = %v (%T), want a *URLError", raw, err, err)
			}
			if len(password) >= 4 && strings.Contains(ue.URL, password) {
				t.Fatalf("ParseURL(%q): the error shows the password: %v", raw, err)
			}
			return
		}
		switch c.Dialect {
		case dialect.SQLite:
			if c.DriverName != "sqlite3" || !strings.Contains(c.DSN, "_fk=1") {
				t.Fatalf("ParseURL(%q) = %+v", raw, c)
			}
		case dialect.Postgres:
			if c.DriverName != "pgx" {
				t.Fatalf("ParseURL(%q) = %+v", raw, c)
			}
		default:
			t.Fatalf("ParseURL(%q): dialect %q", raw, c.Dialect)
		}
		if len(password) >= 4 && strings.Contains(c.Redacted, password) {
			t.Fatalf("ParseURL(%q): Redacted %q shows the password", raw, c.Redacted)
		}
	})
}
