package rule_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// A custom role cannot take the key of a built-in role, whoever creates it
// and through whichever way in; other keys are accepted.
func TestCustomRoleKeyIsNotBuiltin(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		u := c.User.Create().SetEmail("owner@a.com").SetStatus(user.StatusActive).SaveX(sys)
		ctx, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		org, err := tenancy.CreateOrganization(ctx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		owner, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		custom, err := tenancy.CreateRole(owner, c, ent.CreateRoleInput{OrganizationID: &org.ID, Key: "team_lead", Name: "Team lead"})
		if err != nil {
			t.Fatal(err)
		}
		via := map[string]func(ctx context.Context, key string) error{
			"tenancy.CreateRole": func(ctx context.Context, key string) error {
				_, err := tenancy.CreateRole(ctx, c, ent.CreateRoleInput{OrganizationID: &org.ID, Key: key, Name: "R"})
				return err
			},
			"client create": func(ctx context.Context, key string) error {
				return c.Role.Create().SetOrganizationID(org.ID).SetKey(key).SetName("R").Exec(ctx)
			},
			"client create without organization": func(ctx context.Context, key string) error {
				return c.Role.Create().SetKey(key).SetName("R").Exec(ctx)
			},
			"rename through the mutation": func(ctx context.Context, key string) error {
				u := c.Role.UpdateOneID(custom.ID)
				u.Mutation().SetKey(key)
				return u.Exec(ctx)
			},
		}
		actors := map[string]context.Context{"owner": owner, "system": sys}
		tests := []struct {
			key     string
			refused bool
		}{
			{"owner", true},
			{"admin", true},
			{"member", true},
			{"viewer", true},
			{"Owner", true}, // keys are compared without case
			{"owners", false},
			{"owner_deputy", false},
			{"auditor", false},
		}
		for _, b := range permission.Builtins {
			if !func() bool {
				for _, tt := range tests {
					if tt.key == b.Key {
						return true
					}
				}
				return false
			}() {
				t.Fatalf("built-in role %q has no case", b.Key)
			}
		}
		n := 0
		for _, tt := range tests {
			for name, do := range via {
				for who, ctx := range actors {
					switch {
					case !tt.refused && (name == "rename through the mutation" || name == "client create without organization"):
						continue // keys are immutable, and roles without organization are built-in ones
					case name == "client create without organization" && who != "system":
						continue // refused by the policy first
					}
					t.Run(tt.key+"/"+name+"/"+who, func(t *testing.T) {
						key := tt.key
						if !tt.refused {
							n++
							key = tt.key + string(rune('a'+n%26)) + string(rune('a'+n/26))
						}
						err := do(ctx, key)
						var verr *validation.Error
						switch {
						case tt.refused && !(errors.As(err, &verr) && verr.Field == "key"):
							t.Fatalf("key %q: %v, want a validation error on key", key, err)
						case !tt.refused && err != nil:
							t.Fatalf("key %q: %v", key, err)
						}
					})
				}
			}
		}
		got := c.Role.GetX(sys, custom.ID)
		if got.Key != "team_lead" {
			t.Fatalf("the custom role's key is %q after refused renames", got.Key)
		}
	})
}
