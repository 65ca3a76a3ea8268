package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/cf/identity/bench"
)

// TestLoad checks the generator's row counts against its shape.
func TestLoad(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		s := e.fx.Shape
		for _, c := range []struct {
			table string
			want  int
		}{
			{"cf_organizations", s.Organizations},
			{"cf_users", s.Users},
			{"cf_memberships", s.Memberships()},
			{"cf_membership_roles", s.RoleLinks()},
			{"cf_roles WHERE organization_id IS NOT NULL", s.CustomRoles()},
		} {
			var n int
			if err := e.base.queryRow(context.Background(), "SELECT count(*) FROM "+c.table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("%s: %d rows, want %d", c.table, n, c.want)
			}
		}
		if s == bench.Full && (s.Memberships() != 100_000 || s.RoleLinks() != 133_000) {
			t.Errorf("full shape: %d memberships, %d role links", s.Memberships(), s.RoleLinks())
		}
		if _, err := bench.Load(context.Background(), e.sqlDB, e.dialect, s); !errors.Is(err, bench.ErrNotEmpty) {
			t.Errorf("a second Load: %v, want ErrNotEmpty", err)
		}
	})
}

// TestSameAnswers checks that each workload's product side and baseline
// return the same data.
func TestSameAnswers(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		t.Run("W1", func(t *testing.T) {
			got, err := e.w1Ent(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.w1Base(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ent:      %+v\nbaseline: %+v", got, want)
			}
			if got.OrganizationID != string(e.fx.OrgID(3)) || got.UserID != string(e.fx.UserID(e.fx.MemberUser(3, 7))) {
				t.Errorf("read %+v, not membership 7 of organization 3", got)
			}
		})
		for _, s := range w2Shapes {
			t.Run("W2/"+s.name, func(t *testing.T) {
				body := nestedBody(s.orgs, s.members)
				server, err := serve(e.handler, e.key, body)
				if err != nil {
					t.Fatal(err)
				}
				base, err := serve(e.baselineHandler(), e.key, body)
				if err != nil {
					t.Fatal(err)
				}
				var a, b any
				if err := json.Unmarshal(server, &a); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(base, &b); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Errorf("answers differ\nserver:   %.1500s\nbaseline: %.1500s", server, base)
				}
				var ans nestedAnswer
				if err := json.Unmarshal(base, &ans); err != nil {
					t.Fatalf("decoding the baseline answer: %v", err)
				}
				if n := len(ans.Data.Organizations.Edges); n != s.orgs {
					t.Fatalf("%d organizations, want %d", n, s.orgs)
				}
				for _, o := range ans.Data.Organizations.Edges {
					if n := len(o.Node.Memberships.Edges); n != s.members {
						t.Errorf("%s: %d memberships, want %d", o.Node.ID, n, s.members)
					}
				}
			})
		}
		t.Run("W3/apikey", func(t *testing.T) {
			a, err := e.w3Ent(ctx, e.key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.w3BaseKey(ctx, e.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := (baseActor{UserID: string(a.UserID()), KeyID: string(a.APIKeyID()), OrganizationID: string(a.OrganizationID())}); got != b {
				t.Errorf("ent %+v, baseline %+v", got, b)
			}
		})
		t.Run("W3/token", func(t *testing.T) {
			a, err := e.w3Ent(ctx, e.access)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.w3BaseToken(ctx, e.access)
			if err != nil {
				t.Fatal(err)
			}
			if got := (baseActor{UserID: string(a.UserID()), SessionID: string(a.SessionID()), OrganizationID: string(a.ActiveOrganization())}); got != b {
				t.Errorf("ent %+v, baseline %+v", got, b)
			}
		})
		t.Run("W4", func(t *testing.T) {
			for name, f := range map[string]func(context.Context) (string, error){"ent": e.w4Ent, "baseline": e.w4Base} {
				key, err := f(ctx)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				// Both keys authenticate the actor.
				if a, err := e.w3Ent(ctx, key); err != nil || a.UserID() != e.fx.Actor {
					t.Errorf("%s: the new key authenticates %v, %v", name, a, err)
				}
			}
		})
	})
}
