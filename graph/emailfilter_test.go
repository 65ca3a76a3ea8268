package graph_test

import (
	"testing"

	"github.com/cf/identity/internal/testdb"
)

// Emails are stored lower-case; every user email filter is compared
// lower-cased, at the top level and inside other filters.
func TestUserEmailFilterIgnoresCase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		cases := []struct {
			name, query string
			vars        map[string]any
			want        int
		}{
			{"email", `query($e: String!) { users(where: {email: $e}) { totalCount } }`, map[string]any{"e": "Admin@Example.COM"}, 1},
			{"emailIn", `query($e: [String!]!) { users(where: {emailIn: $e}) { totalCount } }`, map[string]any{"e": []string{"ADMIN@example.com", "nobody@example.com"}}, 1},
			{"emailHasPrefix inside or", `query($e: String!) { users(where: {or: [{emailHasPrefix: $e}, {displayName: "nobody"}]}) { totalCount } }`, map[string]any{"e": "ADMIN@"}, 1},
			{"emailNEQ", `query($e: String!) { users(where: {emailNEQ: $e, email: $e}) { totalCount } }`, map[string]any{"e": "Admin@Example.com"}, 0},
			{"no match", `query($e: String!) { users(where: {email: $e}) { totalCount } }`, map[string]any{"e": "Admin@Example.org"}, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var got struct {
					Users struct{ TotalCount int }
				}
				e.mustOK(t, c.query, c.vars, &got)
				if got.Users.TotalCount != c.want {
					t.Errorf("totalCount = %d, want %d", got.Users.TotalCount, c.want)
				}
			})
		}
	})
}
