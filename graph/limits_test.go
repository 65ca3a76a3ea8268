package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/schema"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/validation"
)

// countedEnv is setup over a statement-counting driver.
func countedEnv(t *testing.T, db testdb.Target, opts graph.Options) (*env, *testdb.CountingDriver) {
	t.Helper()
	testdb.Migrated(t, db)
	sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	drv := &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
	c := ent.NewClient(ent.Driver(drv))
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(graph.NewHandler(c, opts))
	t.Cleanup(srv.Close)
	res, err := bootstrap.Superadmin(context.Background(), c, adminEmail, "Admin")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return &env{db: db, client: c, srv: srv, adminID: res.UserID, adminKey: res.Key}, drv
}

// fragmentBomb returns a document of n fragments that each spread the next
// twice: 2^n fields once expanded.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("query { viewer { ...F0 } }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Viewer { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Viewer { kind }\n", n)
	return b.String()
}

// ids returns n well-formed user IDs.
// manyFragments returns a document that spreads n distinct one-field
// fragments.
func manyFragments(n int) string {
	var spreads, defs strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&spreads, " ...F%d", i)
		fmt.Fprintf(&defs, "fragment F%d on User { id }\n", i)
	}
	return "{ viewer { user {" + spreads.String() + " } } }\n" + defs.String()
}

func ids(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("usr_01JD3Q6X6S4W7N9ZKX%08d", i)
	}
	return out
}

// nestedWhere nests a UserWhereInput n levels deep through key ("not"
// nests an object, "or" a one-item list of objects).
func nestedWhere(key string, n int) map[string]any {
	w := map[string]any{"emailContains": "x"}
	for i := 0; i < n; i++ {
		if key == "or" {
			w = map[string]any{"or": []any{w}}
		} else {
			w = map[string]any{"not": w}
		}
	}
	return w
}

func repeat(format string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

func TestAbusiveOperationsAreRefused(t *testing.T) {
	manyPredicates := make([]any, 600)
	for i := range manyPredicates {
		manyPredicates[i] = map[string]any{"emailContains": fmt.Sprint(i)}
	}
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		// want is a part of the refusal's message.
		want string
	}{
		{
			name:  "nested pages multiply",
			query: `{ users(first: 1000) { edges { node { memberships(first: 1000) { totalCount } } } } }`,
			want:  "over the limit of 100000",
		},
		{
			name:  "nested pages from variables",
			query: `query($n: Int) { users(first: $n) { edges { node { memberships(first: $n) { totalCount } } } } }`,
			vars:  map[string]any{"n": 1000},
			want:  "over the limit of 100000",
		},
		{
			name: "default page sizes multiply",
			query: `{ organizations { edges { node { memberships { edges { node {
				roles { edges { node { key } } } } } } } } } }`,
			want: "over the limit of 100000",
		},
		{
			name:  "nodes multiplies by its IDs",
			query: `query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { memberships(first: 1000) { edges { node { id } } } } } }`,
			vars:  map[string]any{"ids": ids(100)},
			want:  "over the limit of 100000",
		},
		{
			name:  "fragment bomb",
			query: fragmentBomb(32),
			want:  "with its fragments expanded, over the limit of 2000",
		},
		{
			// Validation is superlinear in the number of fragments: a
			// thousand distinct one-field fragments took a second of CPU.
			name:  "many fragments",
			query: manyFragments(250),
			want:  "the document has 500 fragment definitions and spreads, over the limit of 200",
		},
		{
			name:  "fields repeated past the field limit",
			query: "{" + repeat(" viewer { user { id email } } # %d\n", 700) + "}",
			want:  "2800 fields with its fragments expanded",
		},
		{
			name:  "tokens",
			query: "{ viewer { " + strings.Repeat("kind ", 10_001) + "} }",
			want:  "more than 10000 tokens",
		},
		{
			name:  "depth",
			query: "{ organizations(first: 1) { edges { node { " + strings.Repeat("children(first: 1) { edges { node { ", 5) + "id" + strings.Repeat(" } } }", 6) + " }",
			want:  "nests 19 levels deep, over the limit of 15",
		},
		{
			name:  "aliases",
			query: "{" + repeat(" a%d: viewer { kind }", 51) + " }",
			want:  "51 aliased fields",
		},
		{
			name:  "aliases through fragments",
			query: "query { viewer { ...A ...B } } fragment A on Viewer { " + repeat("a%d: kind ", 30) + "} fragment B on Viewer { ...A }",
			want:  "60 aliased fields",
		},
		{
			name:  "nodes IDs",
			query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
			vars:  map[string]any{"ids": ids(20_000)},
			want:  "argument ids of nodes has a list of 20000 items, over the limit of 100",
		},
		{
			name:  "idIn",
			query: `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`,
			vars:  map[string]any{"ids": ids(1001)},
			want:  "argument where of users has a list of 1001 items, over the limit of 1000",
		},
		{
			name:  "idNotIn in a variable object",
			query: `query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			vars:  map[string]any{"w": map[string]any{"idNotIn": ids(5000)}},
			want:  "list of 5000 items",
		},
		{
			name:  "bulkAssignRole",
			query: `mutation($ids: [ID!]!) { bulkAssignRole(roleID: "rol_00000000000000000000000004", membershipIDs: $ids) { id } }`,
			vars:  map[string]any{"ids": ids(1001)},
			want:  "argument membershipIDs of bulkAssignRole has a list of 1001 items",
		},
		{
			name:  "setMemberRoles",
			query: `mutation($ids: [ID!]!) { setMemberRoles(membershipID: "mem_01JD3Q6X6S4W7N9ZKX2C1V0B8E", roleIDs: $ids) { id } }`,
			vars:  map[string]any{"ids": ids(2000)},
			want:  "argument roleIDs of setMemberRoles has a list of 2000 items",
		},
		{
			name:  "or nested 1000 deep",
			query: `query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			vars:  map[string]any{"w": nestedWhere("or", 1000)},
			want:  "nests input objects more than 10 deep",
		},
		{
			name:  "not nested 5000 deep",
			query: `query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			vars:  map[string]any{"w": nestedWhere("not", 5000)},
			want:  "nests input objects more than 10 deep",
		},
		{
			name:  "not nested as a literal",
			query: `{ users(where: ` + strings.Repeat(`{not: `, 11) + `{emailContains: "x"}` + strings.Repeat(`}`, 11) + `) { totalCount } }`,
			want:  "nests input objects more than 10 deep",
		},
		{
			name:  "too many predicates",
			query: `query($or: [UserWhereInput!]) { users(where: {or: $or}) { totalCount } }`,
			vars:  map[string]any{"or": manyPredicates},
			want:  "input fields, the limit",
		},
		{
			name:  "predicates summed over fields",
			query: `query($w: UserWhereInput) {` + repeat(` u%d: users(where: $w) { totalCount }`, 20) + ` }`,
			vars:  map[string]any{"w": map[string]any{"or": manyPredicates[:30]}},
			want:  "the arguments of the operation set 620 input fields, over the limit of 500",
		},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e, drv := countedEnv(t, db, graph.Options{})
		// statements counts the SQL statements of one request.
		statements := func(t *testing.T, query string, vars map[string]any) (response, int64) {
			t.Helper()
			drv.Reset()
			r := e.post(t, bearer(e.adminKey), query, vars)
			return r, drv.Count()
		}
		statements(t, `{ viewer { kind } }`, nil) // settles last_used_at
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// A document that fails validation runs only the
				// statements of authentication.
				base, baseN := statements(t, `{ noSuchField }`, nil)
				if len(base.errors) == 0 {
					t.Fatalf("baseline accepted: %s", base.raw)
				}
				r, n := statements(t, c.query, c.vars)
				if len(r.errors) != 1 || r.errors[0].code() != graph.CodeTooComplex {
					t.Fatalf("want one %s error, got HTTP %d: %.600s", graph.CodeTooComplex, r.status, r.raw)
				}
				if msg := r.errors[0].Message; !strings.Contains(msg, c.want) {
					t.Errorf("message %q does not contain %q", msg, c.want)
				}
				if string(r.data) != "" && string(r.data) != "null" {
					t.Errorf("refused operation answered data %s", r.data)
				}
				if n != baseN {
					t.Errorf("refused operation ran %d SQL statements, authentication alone runs %d", n-baseN+baseN, baseN)
				}
				assertNoLeak(t, r)
			})
		}
	})
}

// introspectionQuery is the query GraphiQL sends to learn the schema.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// TestOperationsWithinLimitsRun checks that the limits leave ordinary
// operations alone, each one just under a limit.
func TestOperationsWithinLimitsRun(t *testing.T) {
	predicates := make([]any, 400)
	for i := range predicates {
		predicates[i] = map[string]any{"emailContains": fmt.Sprint(i)}
	}
	cases := []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"introspection", introspectionQuery, nil},
		{"depth at its limit", "{ organizations(first: 1) { edges { node { " + strings.Repeat("children(first: 1) { edges { node { ", 3) + "parent { parent { id } }" + strings.Repeat(" } } }", 4) + " }", nil},
		{"two nested pages", `{ users(first: 50) { totalCount edges { node { email memberships(first: 50) { totalCount edges { node { id title } } } } } } }`, nil},
		{"default page sizes, two levels", `{ organizations { edges { node { name memberships { edges { node { status user { email } } } } } } } }`, nil},
		{"nodes at its limit", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids(100)}}, // answers NOT_FOUND for each ID
		{"idIn at its limit", `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": ids(1000)}},
		{"not nested 9 deep", `query($w: UserWhereInput) { users(where: $w) { totalCount } }`, map[string]any{"w": nestedWhere("not", 9)}},
		{"many predicates", `query($or: [UserWhereInput!]) { users(where: {or: $or}) { totalCount } }`, map[string]any{"or": predicates}},
		{"50 aliases", "{" + repeat(" a%d: viewer { kind }", 50) + " }", nil},
		{"small fragment chain", fragmentBomb(9), nil},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.post(t, bearer(e.adminKey), c.query, c.vars)
				if r.status != http.StatusOK {
					t.Fatalf("want success, got HTTP %d: %.600s", r.status, r.raw)
				}
				for _, err := range r.errors {
					// nodes of unknown IDs answers one NOT_FOUND each.
					if err.code() != graph.CodeNotFound {
						t.Fatalf("want success, got %.600s", r.raw)
					}
				}
			})
		}
	})
}

func TestLimitsAreConfigurable(t *testing.T) {
	cases := []struct {
		name    string
		opts    graph.Options
		query   string
		vars    map[string]any
		refused bool
	}{
		{"lower complexity", graph.Options{ComplexityLimit: 100}, `{ users { totalCount } }`, nil, true},
		{"higher complexity", graph.Options{ComplexityLimit: 2_000_000}, `{ users(first: 1000) { edges { node { memberships(first: 1000) { totalCount } } } } }`, nil, false},
		{"lower depth", graph.Options{DepthLimit: 2}, `{ viewer { user { id } } }`, nil, true},
		{"lower aliases", graph.Options{AliasLimit: 1}, `{ a: viewer { kind } b: viewer { kind } }`, nil, true},
		{"lower fields", graph.Options{FieldLimit: 3}, `{ viewer { kind platformRole scopes } }`, nil, true},
		{"lower tokens", graph.Options{TokenLimit: 5}, `{ viewer { kind } }`, nil, true},
		{"lower nodes", graph.Options{NodesLimit: 1}, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids(2)}, true},
		{"lower lists", graph.Options{ListLimit: 1}, `query($ids: [ID!]) { users(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": ids(2)}, true},
		{"lower input depth", graph.Options{InputDepthLimit: 1}, `{ users(where: {not: {emailContains: "x"}}) { totalCount } }`, nil, true},
		{"lower input fields", graph.Options{InputFieldLimit: 1}, `{ users(where: {emailContains: "x", firstNameContains: "y"}) { totalCount } }`, nil, true},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e, _ := countedEnv(t, db, c.opts)
				r := e.post(t, bearer(e.adminKey), c.query, c.vars)
				refused := len(r.errors) == 1 && r.errors[0].code() == graph.CodeTooComplex
				if refused != c.refused || (!refused && len(r.errors) > 0) {
					t.Fatalf("refused = %v, want %v: HTTP %d: %.600s", refused, c.refused, r.status, r.raw)
				}
			})
		}
	})
}

func TestIntrospectionSwitch(t *testing.T) {
	cases := []struct {
		name    string
		disable bool
	}{{"on by default", false}, {"disabled", true}}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e, _ := countedEnv(t, db, graph.Options{DisableIntrospection: c.disable})
				for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "User") { name } }`} {
					r := e.post(t, bearer(e.adminKey), q, nil)
					if ok := len(r.errors) == 0; ok == c.disable {
						t.Errorf("%s: introspection answered=%v with DisableIntrospection=%v: %s", q, ok, c.disable, r.raw)
					}
					if c.disable && (len(r.errors) != 1 || r.errors[0].code() != graph.CodeForbidden) {
						t.Errorf("%s: want one %s error, got %s", q, graph.CodeForbidden, r.raw)
					}
				}
				// __typename is not introspection of the schema.
				if r := e.post(t, bearer(e.adminKey), `{ __typename }`, nil); len(r.errors) > 0 {
					t.Errorf("__typename refused: %s", r.raw)
				}
			})
		}
	})
}

// bigMap returns a metadata object of about n bytes of JSON.
func bigMap(n int) map[string]any {
	return map[string]any{"blob": strings.Repeat("x", n)}
}

// TestJSONSizeLimit checks that metadata and preference values over
// schema.MaxJSONBytes are refused, through GraphQL with BAD_USER_INPUT
// naming the field, and through the ent client with a *validation.Error.
func TestJSONSizeLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var org struct{ CreateOrganization struct{ ID string } }
		e.mustOK(t, `mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }`, nil, &org)
		orgID := pulid.ID(org.CreateOrganization.ID)

		over, fits := bigMap(schema.MaxJSONBytes), bigMap(schema.MaxJSONBytes-100)
		gql := []struct {
			name, query string
			vars        map[string]any
		}{
			{"createUser", `mutation($m: Map) { createUser(input: {email: "big@example.com", metadata: $m}) { id } }`, nil},
			{"updateUser", `mutation($id: ID!, $m: Map) { updateUser(id: $id, input: {metadata: $m}) { id } }`, map[string]any{"id": string(e.adminID)}},
			{"createOrganization", `mutation($m: Map) { createOrganization(input: {name: "Big", slug: "big", metadata: $m}) { id } }`, nil},
			{"updateOrganization", `mutation($id: ID!, $m: Map) { updateOrganization(id: $id, input: {metadata: $m}) { id } }`, map[string]any{"id": string(orgID)}},
		}
		for _, c := range gql {
			t.Run(c.name, func(t *testing.T) {
				vars := map[string]any{"m": over}
				for k, v := range c.vars {
					vars[k] = v
				}
				r := e.post(t, bearer(e.adminKey), c.query, vars)
				if len(r.errors) != 1 || r.errors[0].code() != graph.CodeBadUserInput || !strings.Contains(r.errors[0].Message, "metadata") {
					t.Fatalf("want one BAD_USER_INPUT error naming metadata, got HTTP %d: %.600s", r.status, r.raw)
				}
				if !strings.Contains(r.errors[0].Message, fmt.Sprintf("over the limit of %d", schema.MaxJSONBytes)) {
					t.Errorf("message %q does not name the limit", r.errors[0].Message)
				}
				vars["m"] = fits
				if r := e.post(t, bearer(e.adminKey), c.query, vars); len(r.errors) > 0 {
					t.Fatalf("metadata under the limit refused: %.600s", r.raw)
				}
			})
		}

		big, err := json.Marshal(over)
		if err != nil {
			t.Fatal(err)
		}
		pref := e.client.Preference.Create().SetScope("organization").SetOrganizationID(orgID).SetKey("ui.theme").SetValue(json.RawMessage(`"dark"`)).SaveX(sys())
		client := []struct {
			name string
			run  func() error
		}{
			{"user metadata", func() error {
				return e.client.User.UpdateOneID(e.adminID).SetMetadata(over).Exec(sys())
			}},
			{"organization metadata", func() error {
				return e.client.Organization.Create().SetName("Big").SetSlug("big-client").SetMetadata(over).Exec(sys())
			}},
			{"preference value on create", func() error {
				return e.client.Preference.Create().SetScope("organization").SetOrganizationID(orgID).SetKey("ui.big").SetValue(big).Exec(sys())
			}},
			{"preference value on update", func() error {
				return e.client.Preference.UpdateOneID(pref.ID).SetValue(big).Exec(sys())
			}},
			{"preference value appended", func() error {
				return e.client.Preference.UpdateOneID(pref.ID).AppendValue(big).Exec(sys())
			}},
		}
		for _, c := range client {
			t.Run(c.name, func(t *testing.T) {
				err := c.run()
				var verr *validation.Error
				if !errors.As(err, &verr) || (verr.Field != "metadata" && verr.Field != "value") {
					t.Fatalf("want a *validation.Error naming the field, got %v", err)
				}
			})
		}
	})
}

// recordingDriver keeps the SQL text of the queries sent to the database.
type recordingDriver struct {
	dialect.Driver
	mu      sync.Mutex
	queries []string
}

func (d *recordingDriver) Query(ctx context.Context, q string, args, v any) error {
	d.mu.Lock()
	d.queries = append(d.queries, q)
	d.mu.Unlock()
	return d.Driver.Query(ctx, q, args, v)
}

// TestNestedConnectionsLoadOnePage checks that a nested connection written
// without first or last is loaded one page at a time in SQL (a window
// per parent), not every row of every parent.
func TestNestedConnectionsLoadOnePage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		testdb.Migrated(t, db)
		sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sqlDB.Close() })
		drv := &recordingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
		c := ent.NewClient(ent.Driver(drv))
		srv := httptest.NewServer(graph.NewHandler(c, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		res, err := bootstrap.Superadmin(context.Background(), c, adminEmail, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		e := &env{db: db, client: c, srv: srv, adminKey: res.Key}
		e.mustOK(t, `mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }`, nil, nil)

		for _, q := range []string{
			`{ organizations { edges { node { memberships { totalCount edges { node { id } } } } } } }`,
			`query { organizations { edges { node { ...M } } } } fragment M on Organization { memberships { edges { node { id } } } }`,
		} {
			drv.mu.Lock()
			drv.queries = nil
			drv.mu.Unlock()
			var data struct {
				Organizations struct {
					Edges []struct {
						Node struct {
							Memberships struct {
								Edges []struct{ Node struct{ ID string } }
							}
						}
					}
				}
			}
			e.mustOK(t, q, nil, &data)
			if len(data.Organizations.Edges) != 1 || len(data.Organizations.Edges[0].Node.Memberships.Edges) != 1 {
				t.Fatalf("%s: want one organization with its owner, got %+v", q, data)
			}
			drv.mu.Lock()
			var paged, unpaged []string
			for _, s := range drv.queries {
				if !strings.Contains(s, "cf_memberships") || !strings.Contains(s, "organization_id") || strings.Contains(strings.ToUpper(s), "COUNT(") {
					continue
				}
				if strings.Contains(strings.ToUpper(s), "ROW_NUMBER") {
					paged = append(paged, s)
				} else {
					unpaged = append(unpaged, s)
				}
			}
			drv.mu.Unlock()
			if len(paged) == 0 {
				t.Errorf("%s: no windowed memberships query; unpaged: %q", q, unpaged)
			}
		}

		// A nested page size sent as a null variable would load every row
		// of every parent: it is refused before anything runs. At the top
		// level a null page size is the default page.
		nested := `query($n: Int) { organizations { edges { node { memberships(first: $n) { edges { node { id } } } } } } }`
		r := e.post(t, bearer(e.adminKey), nested, map[string]any{"n": nil})
		if len(r.errors) != 1 || r.errors[0].code() != graph.CodeBadUserInput || !strings.Contains(r.errors[0].Message, "Organization.memberships are null") {
			t.Errorf("nested null first: want one %s error naming Organization.memberships, got HTTP %d: %.400s", graph.CodeBadUserInput, r.status, r.raw)
		}
		e.mustOK(t, `query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": nil}, nil)
	})
}
