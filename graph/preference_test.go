package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/preference"
	"github.com/cf/identity/tenancy"
)

const (
	setPreferenceMutation = `mutation($in: SetPreferenceInput!) {
  setPreference(input: $in) { id scope key value version organizationID userID updatedByID } }`
	deletePreferenceMutation  = `mutation($in: DeletePreferenceInput!) { deletePreference(input: $in) }`
	effectivePreferencesQuery = `query($o: ID, $u: ID, $k: [String!]) {
  effectivePreferences(organizationID: $o, userID: $u, keys: $k) { key value source layers { level value version } } }`
)

type setPreferenceData struct {
	SetPreference struct {
		ID, Scope, Key string
		Value          json.RawMessage
		Version        int
		OrganizationID *string
		UserID         *string
		UpdatedByID    *string
	}
}

type effectiveData struct {
	EffectivePreferences []struct {
		Key    string
		Value  json.RawMessage
		Source string
		Layers []struct {
			Level   string
			Value   json.RawMessage
			Version int
		}
	}
}

// prefWorld is a server with organization Acme (its owner, a member), an
// outsider and a platform admin, each with a personal API key.
type prefWorld struct {
	*env
	org                                   *ent.Organization
	owner, member, outsider, platform     *ent.User
	ownerKey, memberKey, outKey, adminKey string
}

func newPrefWorld(t *testing.T, db testdb.Target) *prefWorld {
	t.Helper()
	w := &prefWorld{env: setup(t, db)}
	w.owner, w.ownerKey, _ = w.newUserKey(t, "owner@acme.example")
	w.member, w.memberKey, _ = w.newUserKey(t, "member@acme.example")
	w.outsider, w.outKey, _ = w.newUserKey(t, "out@other.example")
	w.platform, w.adminKey, _ = w.newUserKey(t, "platform@cf.example")
	w.client.User.UpdateOneID(w.platform.ID).SetPlatformRole(user.PlatformRoleAdmin).ExecX(sys())
	octx, err := authz.NewContext(context.Background(), w.client, actor.User(w.owner.ID, actor.PlatformNone))
	if err != nil {
		t.Fatal(err)
	}
	if w.org, err = tenancy.CreateOrganization(octx, w.client, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tenancy.AddMember(sys(), w.client, tenancy.AddMemberInput{OrganizationID: w.org.ID, UserID: w.member.ID}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *prefWorld) gql(t *testing.T, key, query string, vars map[string]any) response {
	t.Helper()
	return w.post(t, bearer(key), query, vars)
}

// wantCode checks that r failed with exactly one error of code and no
// leak of internals, and returns it.
func wantCode(t *testing.T, r response, code string) gqlError {
	t.Helper()
	g := r.onlyError(t)
	if g.code() != code {
		t.Errorf("code %q, want %s: %s", g.code(), code, r.raw)
	}
	assertNoLeak(t, r)
	return g
}

func sameJSONText(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestPreferenceGraphQL drives setPreference, deletePreference and
// effectivePreferences end to end: levels and who may write them, merged
// resolution with provenance, expected versions, key and schema
// validation, and their error codes.
func TestPreferenceGraphQL(t *testing.T) {
	const schemaKey = "graphqltest.theme"
	if err := preference.Declare(schemaKey, json.RawMessage(`{"type":"object","properties":{"mode":{"enum":["light","dark"]}}}`)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { preference.Default.Forget(schemaKey) })

	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newPrefWorld(t, db)
		org := string(w.org.ID)
		set := func(level, key, value string, extra map[string]any) map[string]any {
			in := map[string]any{"level": level, "key": key, "value": json.RawMessage(value)}
			if level == "organization" {
				in["organizationID"] = org
			}
			for k, v := range extra {
				in[k] = v
			}
			return map[string]any{"in": in}
		}
		del := func(level, key string, extra map[string]any) map[string]any {
			in := map[string]any{"level": level, "key": key}
			if level == "organization" {
				in["organizationID"] = org
			}
			for k, v := range extra {
				in[k] = v
			}
			return map[string]any{"in": in}
		}
		steps := []struct {
			name    string
			key     string // credential
			query   string
			vars    map[string]any
			code    string // "" for success
			message string // in the error message
			field   string // extensions.field
			check   func(t *testing.T, r response)
		}{
			{name: "the owner sets the organization level", key: w.ownerKey, query: setPreferenceMutation,
				vars: set("organization", "UI.Theme", `{"accent":"red","mode":"light"}`, map[string]any{"expectedVersion": 0}),
				check: func(t *testing.T, r response) {
					var d setPreferenceData
					r.decodeData(t, &d)
					p := d.SetPreference
					if p.Scope != "organization" || p.Key != "ui.theme" || p.Version != 1 || p.OrganizationID == nil || *p.OrganizationID != org ||
						p.UserID != nil || p.UpdatedByID == nil || *p.UpdatedByID != string(w.owner.ID) {
						t.Errorf("setPreference = %+v", p)
					}
				}},
			{name: "again expecting it unset", key: w.ownerKey, query: setPreferenceMutation,
				vars: set("organization", "ui.theme", `{"accent":"green"}`, map[string]any{"expectedVersion": 0}), code: "CONFLICT"},
			{name: "a member may not write the organization level", key: w.memberKey, query: setPreferenceMutation,
				vars: set("organization", "ui.theme", `{"accent":"green"}`, nil), code: "FORBIDDEN", message: "preference:write"},
			{name: "an outsider may not either", key: w.outKey, query: setPreferenceMutation,
				vars: set("organization", "ui.theme", `{"accent":"green"}`, map[string]any{"expectedVersion": 5}), code: "FORBIDDEN"},
			{name: "a platform admin sets the system level", key: w.adminKey, query: setPreferenceMutation,
				vars: set("system", "ui.theme", `{"mode":"light","accent":"blue","density":"cozy"}`, nil),
				check: func(t *testing.T, r response) {
					var d setPreferenceData
					r.decodeData(t, &d)
					if d.SetPreference.Scope != "system" || d.SetPreference.Version != 1 {
						t.Errorf("setPreference = %+v", d.SetPreference)
					}
				}},
			{name: "an organization owner may not", key: w.ownerKey, query: setPreferenceMutation,
				vars: set("system", "ui.theme", `{}`, nil), code: "FORBIDDEN"},
			{name: "a member sets its own level", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", "ui.theme", `{"mode":"dark"}`, nil),
				check: func(t *testing.T, r response) {
					var d setPreferenceData
					r.decodeData(t, &d)
					if p := d.SetPreference; p.Scope != "user" || p.UserID == nil || *p.UserID != string(w.member.ID) || p.Version != 1 {
						t.Errorf("setPreference = %+v", p)
					}
				}},
			{name: "but not another user's", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", "ui.theme", `{"mode":"dark"}`, map[string]any{"userID": string(w.owner.ID)}), code: "FORBIDDEN"},
			{name: "a malformed key", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", "ui theme", `1`, nil), code: "BAD_USER_INPUT", field: "key", message: "not a preference key"},
			{name: "an organization for the user level", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", "k", `1`, map[string]any{"organizationID": org}), code: "BAD_USER_INPUT", field: "organizationID"},
			{name: "a value against the key's schema", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", schemaKey, `{"mode":"blue"}`, nil), code: "BAD_USER_INPUT", field: "value", message: "at /mode: value must be one of"},
			{name: "a value the schema accepts", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", schemaKey, `{"mode":"dark"}`, nil)},
			{name: "the member's effective preferences in Acme", key: w.memberKey, query: effectivePreferencesQuery,
				vars: map[string]any{"o": org, "k": []string{"UI.THEME"}},
				check: func(t *testing.T, r response) {
					var d effectiveData
					r.decodeData(t, &d)
					if len(d.EffectivePreferences) != 1 {
						t.Fatalf("effectivePreferences = %s", r.data)
					}
					p := d.EffectivePreferences[0]
					if p.Key != "ui.theme" || p.Source != "user" || !sameJSONText(p.Value, []byte(`{"mode":"dark","accent":"red","density":"cozy"}`)) {
						t.Errorf("effective %s = %s from %s", p.Key, p.Value, p.Source)
					}
					var levels []string
					for _, l := range p.Layers {
						levels = append(levels, fmt.Sprintf("%s@%d", l.Level, l.Version))
					}
					if strings.Join(levels, " ") != "system@1 organization@1 user@1" {
						t.Errorf("layers %v", levels)
					}
				}},
			{name: "every key, sorted", key: w.memberKey, query: effectivePreferencesQuery, vars: map[string]any{"o": org},
				check: func(t *testing.T, r response) {
					var d effectiveData
					r.decodeData(t, &d)
					var keys []string
					for _, p := range d.EffectivePreferences {
						keys = append(keys, p.Key)
					}
					if strings.Join(keys, ",") != schemaKey+",ui.theme" {
						t.Errorf("keys %v", keys)
					}
				}},
			{name: "an outsider asking about Acme", key: w.outKey, query: effectivePreferencesQuery, vars: map[string]any{"o": org}, code: "NOT_FOUND"},
			{name: "an outsider without an organization", key: w.outKey, query: effectivePreferencesQuery, vars: map[string]any{},
				check: func(t *testing.T, r response) {
					var d effectiveData
					r.decodeData(t, &d)
					if len(d.EffectivePreferences) != 1 || d.EffectivePreferences[0].Source != "system" {
						t.Errorf("effectivePreferences = %s, want the system level only", r.data)
					}
				}},
			{name: "a malformed key filter", key: w.memberKey, query: effectivePreferencesQuery, vars: map[string]any{"k": []string{"a b"}}, code: "BAD_USER_INPUT", field: "keys"},
			{name: "delete at a stale version", key: w.memberKey, query: deletePreferenceMutation,
				vars: del("user", "ui.theme", map[string]any{"expectedVersion": 7}), code: "CONFLICT"},
			{name: "delete the member's level", key: w.memberKey, query: deletePreferenceMutation,
				vars: del("user", "ui.theme", map[string]any{"expectedVersion": 1}),
				check: func(t *testing.T, r response) {
					if string(r.data) != `{"deletePreference":true}` {
						t.Errorf("deletePreference = %s", r.data)
					}
				}},
			{name: "delete it again", key: w.memberKey, query: deletePreferenceMutation, vars: del("user", "ui.theme", nil),
				check: func(t *testing.T, r response) {
					if string(r.data) != `{"deletePreference":false}` {
						t.Errorf("deletePreference = %s", r.data)
					}
				}},
			{name: "a member may not delete the organization level", key: w.memberKey, query: deletePreferenceMutation,
				vars: del("organization", "ui.theme", nil), code: "FORBIDDEN"},
			{name: "the organization level now applies", key: w.memberKey, query: effectivePreferencesQuery,
				vars: map[string]any{"o": org, "k": []string{"ui.theme"}},
				check: func(t *testing.T, r response) {
					var d effectiveData
					r.decodeData(t, &d)
					if p := d.EffectivePreferences[0]; p.Source != "organization" || len(p.Layers) != 2 ||
						!sameJSONText(p.Value, []byte(`{"mode":"light","accent":"red","density":"cozy"}`)) {
						t.Errorf("effective = %s", r.data)
					}
				}},
			{name: "setting again continues the version", key: w.memberKey, query: setPreferenceMutation,
				vars: set("user", "ui.theme", `{"mode":"dark"}`, map[string]any{"expectedVersion": 0}),
				check: func(t *testing.T, r response) {
					var d setPreferenceData
					r.decodeData(t, &d)
					if d.SetPreference.Version != 3 {
						t.Errorf("version %d, want 3 (set, deleted, set)", d.SetPreference.Version)
					}
				}},
		}
		for _, s := range steps {
			r := w.gql(t, s.key, s.query, s.vars)
			if s.code == "" {
				if len(r.errors) > 0 {
					t.Fatalf("%s: %s", s.name, r.raw)
				}
				if s.check != nil {
					s.check(t, r)
				}
				continue
			}
			g := wantCode(t, r, s.code)
			t.Logf("%s: %s", s.name, g.Message)
			if !strings.Contains(g.Message, s.message) {
				t.Errorf("%s: message %q does not say %q", s.name, g.Message, s.message)
			}
			if f, _ := g.Extensions["field"].(string); f != s.field {
				t.Errorf("%s: extensions.field %q, want %q", s.name, f, s.field)
			}
		}
		// Every change recorded once, refusals not at all: sets of the
		// organization, system and user levels, the schema key, the
		// re-set; one deletion.
		if n := w.activities(t, preference.VerbSet); n != 5 {
			t.Errorf("%d %s activities, want 5", n, preference.VerbSet)
		}
		if n := w.activities(t, preference.VerbDeleted); n != 1 {
			t.Errorf("%d %s activities, want 1", n, preference.VerbDeleted)
		}
	})
}

// TestPreferenceGraphQLParallel: 50 setPreference requests expecting the
// same version at once: one answers the new version, 49 CONFLICT.
func TestPreferenceGraphQLParallel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newPrefWorld(t, db)
		in := func(i int, expected int) map[string]any {
			return map[string]any{"in": map[string]any{"level": "organization", "organizationID": string(w.org.ID), "key": "race",
				"value": map[string]any{"writer": i}, "expectedVersion": expected}}
		}
		if r := w.gql(t, w.ownerKey, setPreferenceMutation, in(-1, 0)); len(r.errors) > 0 {
			t.Fatal(string(r.raw))
		}
		const n = 50
		rs := make([]response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rs[i] = w.gql(t, w.ownerKey, setPreferenceMutation, in(i, 1))
			}()
		}
		close(start)
		wg.Wait()
		ok, conflict := 0, 0
		for i, r := range rs {
			switch {
			case len(r.errors) == 0:
				ok++
				var d setPreferenceData
				r.decodeData(t, &d)
				if d.SetPreference.Version != 2 {
					t.Errorf("request %d: version %d, want 2", i, d.SetPreference.Version)
				}
			case len(r.errors) == 1 && r.errors[0].code() == "CONFLICT":
				conflict++
			default:
				t.Errorf("request %d: %s", i, r.raw)
			}
		}
		if ok != 1 || conflict != n-1 {
			t.Errorf("%d succeeded and %d CONFLICT, want 1 and %d", ok, conflict, n-1)
		}
		if got := w.activities(t, preference.VerbSet); got != 2 {
			t.Errorf("%d %s activities, want 2", got, preference.VerbSet)
		}
	})
}
