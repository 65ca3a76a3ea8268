package account_test

import (
	"strings"
	"testing"

	"github.com/cf/identity/account"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
)

func TestByEmail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		target := e.user(t, user.PlatformRoleNone, account.Active)
		admin := e.user(t, user.PlatformRoleAdmin, account.Active)
		stranger := e.user(t, user.PlatformRoleNone, account.Active)
		cases := []struct {
			name  string
			as    *ent.User
			email string
			found bool
		}{
			{"exact", admin, target.Email, true},
			{"other case and spaces", admin, "  " + strings.ToUpper(target.Email) + " ", true},
			{"unknown", admin, "nobody@example.com", false},
			{"oneself", target, strings.ToUpper(target.Email), true},
			{"a user one may not read", stranger, target.Email, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u, err := account.ByEmail(e.as(t, c.as), e.c, c.email)
				switch {
				case c.found && (err != nil || u.ID != target.ID):
					t.Fatalf("ByEmail(%q) = %v, %v; want %s", c.email, u, err, target.ID)
				case !c.found && !ent.IsNotFound(err):
					t.Fatalf("ByEmail(%q) = %v, %v; want not found", c.email, u, err)
				}
			})
		}
	})
}
