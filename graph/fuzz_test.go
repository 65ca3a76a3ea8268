package graph_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

// fuzzOperations are the fixed documents FuzzVariables sends; the fuzzer
// picks one and writes its variables.
var fuzzOperations = []string{
	`query ($w: UserWhereInput, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
		users(where: $w, first: $first, after: $after, last: $last, before: $before) {
			totalCount edges { cursor node { id email memberships(first: $first) { totalCount } } } } }`,
	`query ($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
	`query ($w: OrganizationWhereInput, $o: OrganizationOrder) { organizations(where: $w, orderBy: $o) { totalCount } }`,
	`mutation ($input: CreateUserInput!) { createUser(input: $input) { id metadata } }`,
	`mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }`,
	`mutation ($input: CreateAPIKeyInput!) { createAPIKey(input: $input) { apiKey { id expiresAt } } }`,
}

// FuzzVariables sends random variables (any JSON, valid or not) with each
// of fuzzOperations to the real handler over SQLite. Whatever the
// variables, the server must not panic, every error must have an
// extensions.code, and none may be INTERNAL: variables are the caller's
// input, so a failure is theirs to fix and must say so.
func FuzzVariables(f *testing.F) {
	e, logs := setupLogged(f, testdb.New(f, dialect.SQLite))
	seeds := []struct {
		op   uint8
		vars string
	}{
		{0, `{}`},
		{0, `{"w": {"emailContains": "admin"}, "first": 2}`},
		{0, `{"w": {"or": [{"idIn": []}]}}`},
		{0, `{"w": {"not": {"createdAtGT": "yesterday"}}}`},
		{0, `{"after": "gqF27aF270"}`},
		{0, `{"first": 1, "last": 1}`},
		{0, `{"first": -1}`},
		{0, `{"w": {"emailContains": "a\u0000"}}`},
		{1, `{"ids": ["usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "nope"]}`},
		{2, `{"o": {"field": "NAME", "direction": "DESC"}}`},
		{3, `{"input": {"email": "fuzz@example.com", "metadata": {"a": [1, {"b": null}]}}}`},
		{3, `{"input": {"email": "fuzz@example.com", "metadata": [1]}}`},
		{4, `{"id": "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "input": {"banExpiresAt": "2025-13-01T00:00:00Z"}}`},
		{5, `{"input": {"name": "k", "scopes": ["*"], "expiresAt": "2000-01-01T00:00:00Z"}}`},
		{5, `{"input": {"name": "k", "scopes": ["nope"]}}`},
		{0, `[1]`},
		{0, `{`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.vars)
	}
	f.Fuzz(func(t *testing.T, op uint8, vars string) {
		query := fuzzOperations[int(op)%len(fuzzOperations)]
		body := `{"query":` + strconv.Quote(query) + `,"variables":` + vars + `}`
		if !json.Valid([]byte(body)) {
			body = `{"query":` + strconv.Quote(query) + `,"variables":` + strconv.Quote(vars) + `}`
		}
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", bearer(e.adminKey))
		r := do(t, e.srv.Client(), req)
		if r.status >= 500 {
			t.Errorf("HTTP %d for variables %s: %s", r.status, vars, r.raw)
		}
		assertNoLeak(t, r)
		for _, g := range r.errors {
			if g.code() == "" || g.code() == graph.CodeInternal {
				t.Errorf("error code %q for variables %s: %s", g.code(), vars, r.raw)
			}
		}
		assertQuietLog(t, logs)
	})
}
