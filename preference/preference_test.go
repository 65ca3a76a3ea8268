package preference_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	entpref "github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/preference"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// TestPreferenceResolution resolves keys across the levels: objects merge
// member by member (recursively) from system to user, anything else of a
// narrower level replaces the broader value, deleted levels drop out; the
// source is the narrowest level that sets the key and the layers list
// every level that does, broadest first, with its version.
func TestPreferenceResolution(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		type layer struct {
			level preference.Level
			value string // "" for none; "-" for set and then deleted
		}
		tests := []struct {
			name   string
			layers []layer
			want   string // "" for "not in the answer"
			source preference.Level
			levels []preference.Level
		}{
			{"only system", []layer{{preference.System, `"light"`}}, `"light"`, preference.System, []preference.Level{preference.System}},
			{"only organization", []layer{{preference.Organization, `5`}}, `5`, preference.Organization, []preference.Level{preference.Organization}},
			{"only user", []layer{{preference.User, `true`}}, `true`, preference.User, []preference.Level{preference.User}},
			{"system and organization", []layer{{preference.System, `"light"`}, {preference.Organization, `"dark"`}}, `"dark"`, preference.Organization,
				[]preference.Level{preference.System, preference.Organization}},
			{"all three", []layer{{preference.System, `1`}, {preference.Organization, `2`}, {preference.User, `3`}}, `3`, preference.User,
				[]preference.Level{preference.System, preference.Organization, preference.User}},
			{"system and user", []layer{{preference.System, `"a"`}, {preference.User, `"c"`}}, `"c"`, preference.User,
				[]preference.Level{preference.System, preference.User}},
			{"objects merge, nested", []layer{
				{preference.System, `{"theme":{"mode":"light","accent":"blue"},"density":"cozy","beta":false}`},
				{preference.Organization, `{"theme":{"accent":"red","font":{"size":14}},"beta":true}`},
				{preference.User, `{"theme":{"mode":"dark","font":{"family":"mono"}}}`},
			}, `{"theme":{"mode":"dark","accent":"red","font":{"size":14,"family":"mono"}},"density":"cozy","beta":true}`, preference.User,
				[]preference.Level{preference.System, preference.Organization, preference.User}},
			{"a scalar replaces an object", []layer{{preference.System, `{"mode":"light"}`}, {preference.User, `"dark"`}}, `"dark"`, preference.User,
				[]preference.Level{preference.System, preference.User}},
			{"an object replaces a scalar", []layer{{preference.System, `"light"`}, {preference.Organization, `{"mode":"dark"}`}}, `{"mode":"dark"}`, preference.Organization,
				[]preference.Level{preference.System, preference.Organization}},
			{"arrays are replaced, not concatenated", []layer{{preference.System, `{"tags":["a","b"],"n":1}`}, {preference.User, `{"tags":["c"]}`}}, `{"tags":["c"],"n":1}`, preference.User,
				[]preference.Level{preference.System, preference.User}},
			{"a top-level array replaces", []layer{{preference.System, `[1,2,3]`}, {preference.Organization, `[4]`}}, `[4]`, preference.Organization,
				[]preference.Level{preference.System, preference.Organization}},
			{"a member set to null stays null", []layer{{preference.System, `{"a":1,"b":2}`}, {preference.User, `{"b":null}`}}, `{"a":1,"b":null}`, preference.User,
				[]preference.Level{preference.System, preference.User}},
			{"a deleted level drops out", []layer{{preference.System, `"light"`}, {preference.Organization, `-`}}, `"light"`, preference.System,
				[]preference.Level{preference.System}},
			{"deleted under a user value", []layer{{preference.System, `{"a":1}`}, {preference.Organization, `-`}, {preference.User, `{"b":2}`}}, `{"a":1,"b":2}`, preference.User,
				[]preference.Level{preference.System, preference.User}},
			{"deleted everywhere is left out", []layer{{preference.System, `-`}, {preference.User, `-`}}, "", "", nil},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := "case." + string(rune('a'+i))
				versions := map[preference.Level]int{}
				for _, l := range tt.layers {
					org, usr := pulid.ID(""), pulid.ID("")
					switch l.level {
					case preference.Organization:
						org = e.org.ID
					case preference.User:
						usr = e.member.ID
					}
					v := l.value
					if v == "-" {
						v = `"to be deleted"`
					}
					p := e.set(t, l.level, org, usr, key, v)
					versions[l.level] = p.Version
					if l.value == "-" {
						ok, err := preference.Delete(sys(), e.c, preference.DeleteInput{Level: l.level, OrganizationID: org, UserID: usr, Key: key})
						if err != nil || !ok {
							t.Fatalf("Delete: %v, %v", ok, err)
						}
					}
				}
				got, err := preference.Effective(e.as(t, e.member), e.c, e.org.ID, "", []string{key})
				if err != nil {
					t.Fatalf("Effective: %v", err)
				}
				if tt.want == "" {
					if len(got) != 0 {
						t.Fatalf("Effective = %+v, want nothing", got)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("Effective = %+v, want one key", got)
				}
				r := got[0]
				if r.Key != key || !sameJSON(t, r.Value, []byte(tt.want)) {
					t.Errorf("value = %s, want %s", r.Value, tt.want)
				}
				if r.Source != tt.source {
					t.Errorf("source = %s, want %s", r.Source, tt.source)
				}
				var levels []preference.Level
				for _, l := range r.Layers {
					levels = append(levels, l.Level)
					if l.Version != versions[l.Level] {
						t.Errorf("%s layer at version %d, want %d", l.Level, l.Version, versions[l.Level])
					}
				}
				if !slices.Equal(levels, tt.levels) {
					t.Errorf("layers %v, want %v", levels, tt.levels)
				}
			})
		}
	})
}

// TestPreferenceEffectiveKeysAndReach: every key when none are named,
// sorted; keys are case-insensitive; unknown keys are left out; each level
// contributes what the viewer may read of it.
func TestPreferenceEffectiveKeysAndReach(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		e.set(t, preference.System, "", "", "ui.theme", `{"mode":"light"}`)
		e.set(t, preference.System, "", "", "locale", `"en"`)
		e.set(t, preference.Organization, e.org.ID, "", "ui.theme", `{"accent":"red"}`)
		e.set(t, preference.Organization, e.org.ID, "", "billing.seats", `10`)
		e.set(t, preference.Organization, e.other.ID, "", "ui.theme", `{"accent":"green"}`)
		e.set(t, preference.User, "", e.member.ID, "ui.theme", `{"mode":"dark"}`)
		e.set(t, preference.User, "", e.admin.ID, "zeta", `1`)

		keysOf := func(rs []preference.Resolved) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.Key)
			}
			return out
		}
		valueOf := func(rs []preference.Resolved, key string) string {
			for _, r := range rs {
				if r.Key == key {
					return string(r.Value)
				}
			}
			return ""
		}
		tests := []struct {
			name      string
			as        *ent.User
			org, user pulid.ID
			keys      []string
			wantKeys  []string
			theme     string
			wantErr   func(error) bool
		}{
			{name: "member, every key", as: e.member, org: e.org.ID, wantKeys: []string{"billing.seats", "locale", "ui.theme"}, theme: `{"accent":"red","mode":"dark"}`},
			{name: "keys are case-insensitive, unknown ones left out", as: e.member, org: e.org.ID, keys: []string{"UI.Theme", "nope", "ui.theme"}, wantKeys: []string{"ui.theme"}, theme: `{"accent":"red","mode":"dark"}`},
			{name: "an empty list is every key", as: e.member, org: e.org.ID, keys: []string{}, wantKeys: []string{"billing.seats", "locale", "ui.theme"}},
			{name: "no organization: system and user", as: e.member, wantKeys: []string{"locale", "ui.theme"}, theme: `{"mode":"dark"}`},
			{name: "the viewer role cannot read organization preferences", as: e.viewer, org: e.org.ID, wantKeys: []string{"locale", "ui.theme"}, theme: `{"mode":"light"}`},
			{name: "another user's level is not readable", as: e.admin, org: e.org.ID, user: e.member.ID, wantKeys: []string{"billing.seats", "locale", "ui.theme"}, theme: `{"accent":"red","mode":"light"}`},
			{name: "a superadmin reads another user's level", as: e.super, org: e.org.ID, user: e.member.ID, wantKeys: []string{"billing.seats", "locale", "ui.theme"}, theme: `{"accent":"red","mode":"dark"}`},
			{name: "an organization the viewer is not in is not found", as: e.outsider, org: e.org.ID, wantErr: ent.IsNotFound},
			{name: "a user the viewer cannot see is not found", as: e.outsider, user: e.member.ID, wantErr: ent.IsNotFound},
			{name: "a malformed key", as: e.member, keys: []string{"no spaces"}, wantErr: func(err error) bool {
				var v *validation.Error
				return errors.As(err, &v) && v.Field == "keys"
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := preference.Effective(e.as(t, tt.as), e.c, tt.org, tt.user, tt.keys)
				if tt.wantErr != nil {
					if err == nil || !tt.wantErr(err) {
						t.Fatalf("Effective: %v, %v; want a refusal", got, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Effective: %v", err)
				}
				if !slices.Equal(keysOf(got), tt.wantKeys) {
					t.Errorf("keys %v, want %v", keysOf(got), tt.wantKeys)
				}
				if tt.theme != "" && !sameJSON(t, []byte(valueOf(got, "ui.theme")), []byte(tt.theme)) {
					t.Errorf("ui.theme = %s, want %s", valueOf(got, "ui.theme"), tt.theme)
				}
			})
		}
	})
}

// TestPreferenceEffectiveStatements: Effective costs the same number of
// statements for one key as for many.
func TestPreferenceEffectiveStatements(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		client, drv := testdb.Counted(t, db)
		var keys []string
		for i := range 20 {
			k := "k" + string(rune('a'+i))
			keys = append(keys, k)
			e.set(t, preference.System, "", "", k, `{"a":1}`)
			e.set(t, preference.Organization, e.org.ID, "", k, `{"b":2}`)
			e.set(t, preference.User, "", e.member.ID, k, `{"c":3}`)
		}
		counts := map[int]int64{}
		for _, n := range []int{1, 20} {
			ctx := e.as(t, e.member)
			drv.Reset()
			got, err := preference.Effective(ctx, client, e.org.ID, "", keys[:n])
			if err != nil || len(got) != n {
				t.Fatalf("Effective(%d keys) = %d results, %v", n, len(got), err)
			}
			counts[n] = drv.Count()
		}
		if counts[1] != counts[20] || counts[1] > 2 {
			t.Errorf("statements: %d for 1 key, %d for 20; want the same, at most 2 (organization check, preferences)", counts[1], counts[20])
		}
	})
}

// TestPreferenceVersions: a version per key and level that only grows,
// across deletion and re-setting; setting the same value or deleting an
// unset key changes nothing.
func TestPreferenceVersions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.member)
		const key = "ui.theme"
		type step struct {
			name    string
			del     bool
			value   string
			want    int  // version after the step
			changed bool // Delete's answer
		}
		steps := []step{
			{name: "first set", value: `{"mode":"light"}`, want: 1},
			{name: "change", value: `{"mode":"dark"}`, want: 2},
			{name: "same value, other spelling", value: `{ "mode" : "dark" }`, want: 2},
			{name: "delete", del: true, want: 3, changed: true},
			{name: "delete again", del: true, want: 3},
			{name: "set after delete continues", value: `"x"`, want: 4},
			{name: "delete once more", del: true, want: 5, changed: true},
			{name: "and set again", value: `"y"`, want: 6},
		}
		var id pulid.ID
		for _, s := range steps {
			if s.del {
				ok, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.User, Key: key})
				if err != nil || ok != s.changed {
					t.Fatalf("%s: Delete = %v, %v; want %v", s.name, ok, err, s.changed)
				}
				_, err = preference.Get(ctx, e.c, preference.GetInput{Level: preference.User, Key: key})
				if !errors.Is(err, preference.ErrNotSet) {
					t.Errorf("%s: Get after Delete: %v, want ErrNotSet", s.name, err)
				}
			} else {
				p, err := preference.Set(ctx, e.c, preference.SetInput{Level: preference.User, Key: key, Value: json.RawMessage(s.value)})
				if err != nil {
					t.Fatalf("%s: Set: %v", s.name, err)
				}
				if p.Version != s.want {
					t.Errorf("%s: Set answers version %d, want %d", s.name, p.Version, s.want)
				}
				if id != "" && p.ID != id {
					t.Errorf("%s: the row changed from %s to %s", s.name, id, p.ID)
				}
				id = p.ID
				g, err := preference.Get(ctx, e.c, preference.GetInput{Level: preference.User, UserID: e.member.ID, Key: "UI.THEME"})
				if err != nil || !sameJSON(t, g.Value, []byte(s.value)) {
					t.Errorf("%s: Get = %v, %v", s.name, g, err)
				}
			}
			// Tombstones are left out of queries unless deleted rows are
			// asked for.
			row := e.c.Preference.GetX(softdelete.IncludeDeleted(sys()), id)
			if row.Version != s.want {
				t.Errorf("%s: stored version %d, want %d", s.name, row.Version, s.want)
			}
		}
		if n := e.c.Preference.Query().CountX(softdelete.IncludeDeleted(sys())); n != 1 {
			t.Errorf("%d rows, want 1 (the tombstone is reused)", n)
		}
	})
}

// TestPreferenceExpectedVersion: conditional writes against the key's
// version at the level (0: not set).
func TestPreferenceExpectedVersion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.admin)
		in := func(v string, expected *int) preference.SetInput {
			return preference.SetInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "billing.plan", Value: json.RawMessage(v), ExpectedVersion: expected}
		}
		del := func(expected *int) preference.DeleteInput {
			return preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "billing.plan", ExpectedVersion: expected}
		}
		type step struct {
			name     string
			set      *preference.SetInput
			del      *preference.DeleteInput
			version  int // version after the step
			deleted  bool
			stale    bool
			current  int // VersionError.Current
			badInput string
		}
		si := func(v string, x *int) *preference.SetInput { s := in(v, x); return &s }
		di := func(x *int) *preference.DeleteInput { d := del(x); return &d }
		steps := []step{
			{name: "a version for a key not set", set: si(`"a"`, ptr(1)), version: 0, stale: true, current: 0},
			{name: "0 for a key not set", set: si(`"a"`, ptr(0)), version: 1},
			{name: "0 for a key that is set", set: si(`"b"`, ptr(0)), version: 1, stale: true, current: 1},
			{name: "the current version", set: si(`"b"`, ptr(1)), version: 2},
			{name: "an old version", set: si(`"c"`, ptr(1)), version: 2, stale: true, current: 2},
			{name: "a future version", set: si(`"c"`, ptr(7)), version: 2, stale: true, current: 2},
			{name: "the current version, same value", set: si(`"b"`, ptr(2)), version: 2},
			{name: "delete at an old version", del: di(ptr(1)), version: 2, stale: true, current: 2},
			{name: "delete at 0", del: di(ptr(0)), version: 2, stale: true, current: 2},
			{name: "delete at the current version", del: di(ptr(2)), version: 3, deleted: true},
			{name: "delete a deleted key at 0", del: di(ptr(0)), version: 3},
			{name: "delete a deleted key at its tombstone's version", del: di(ptr(3)), version: 3, stale: true, current: 0},
			{name: "the tombstone's version for a deleted key", set: si(`"d"`, ptr(3)), version: 3, stale: true, current: 0},
			{name: "0 for a deleted key", set: si(`"d"`, ptr(0)), version: 4},
			{name: "a negative version", set: si(`"e"`, ptr(-1)), version: 4, badInput: "expectedVersion"},
		}
		for _, s := range steps {
			var err error
			var deleted bool
			if s.set != nil {
				_, err = preference.Set(ctx, e.c, *s.set)
			} else {
				deleted, err = preference.Delete(ctx, e.c, *s.del)
			}
			var ve *preference.VersionError
			var bad *validation.Error
			switch {
			case s.stale:
				if !errors.As(err, &ve) || !errors.Is(err, preference.ErrStaleVersion) || !errors.Is(err, authz.ErrConcurrentUpdate) {
					t.Fatalf("%s: %v, want a *VersionError matching ErrStaleVersion and authz.ErrConcurrentUpdate", s.name, err)
				}
				if ve.Current != s.current || ve.Key != "billing.plan" || ve.Level != preference.Organization {
					t.Errorf("%s: %+v, want current %d", s.name, ve, s.current)
				}
			case s.badInput != "":
				if !errors.As(err, &bad) || bad.Field != s.badInput {
					t.Fatalf("%s: %v, want invalid %s", s.name, err, s.badInput)
				}
			case err != nil:
				t.Fatalf("%s: %v", s.name, err)
			}
			if deleted != s.deleted {
				t.Errorf("%s: deleted = %v, want %v", s.name, deleted, s.deleted)
			}
			got := 0
			if p, err := e.c.Preference.Query().Where(entpref.Key("billing.plan")).Only(softdelete.IncludeDeleted(sys())); err == nil {
				got = p.Version
			}
			if got != s.version {
				t.Errorf("%s: version %d, want %d", s.name, got, s.version)
			}
		}
		// Every effective change was recorded once: sets at 1, 2 and 4, the
		// deletion at 3.
		if got := e.allActivities(t); got[preference.VerbSet] != 3 || got[preference.VerbDeleted] != 1 || len(got) != 2 {
			t.Errorf("activities %v, want 3 %s and 1 %s only", got, preference.VerbSet, preference.VerbDeleted)
		}
	})
}

// TestPreferenceParallelWriters: 50 writers expecting the same version at
// once, on each dialect: exactly one wins, 49 get ErrStaleVersion, one
// version and one activity are added. Writers without an expected version
// all succeed, one after the other.
func TestPreferenceParallelWriters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.admin)
		tests := []struct {
			name     string
			before   int // the key's version first (0: not set)
			deleteIt bool
			del      bool // the writers delete
			expected *int
			wantWins int
			wantVer  int
		}{
			{name: "create expecting 0", before: 0, expected: ptr(0), wantWins: 1, wantVer: 1},
			{name: "update expecting the current version", before: 3, expected: ptr(3), wantWins: 1, wantVer: 4},
			{name: "re-set a deleted key expecting 0", before: 2, deleteIt: true, expected: ptr(0), wantWins: 1, wantVer: 4},
			{name: "delete expecting the current version", before: 2, del: true, expected: ptr(2), wantWins: 1, wantVer: 3},
			{name: "create without an expected version", before: 0, wantWins: parallel, wantVer: parallel},
			{name: "update without an expected version", before: 1, wantWins: parallel, wantVer: 1 + parallel},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := "race." + string(rune('a'+i))
				base := preference.SetInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: key}
				for v := 1; v <= tt.before; v++ {
					in := base
					in.Value = value(-v)
					if _, err := preference.Set(ctx, e.c, in); err != nil {
						t.Fatal(err)
					}
				}
				if tt.deleteIt {
					if ok, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: key}); !ok || err != nil {
						t.Fatalf("Delete: %v %v", ok, err)
					}
				}
				deleting := tt.del
				before := e.allActivities(t)
				errs := race(parallel, func(i int) error {
					if deleting {
						ok, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: key, ExpectedVersion: tt.expected})
						if err == nil && !ok {
							return errors.New("Delete answered false")
						}
						return err
					}
					in := base
					in.Value = value(i)
					in.ExpectedVersion = tt.expected
					_, err := preference.Set(ctx, e.c, in)
					return err
				})
				wins, stale := 0, 0
				for i, err := range errs {
					switch {
					case err == nil:
						wins++
					case errors.Is(err, preference.ErrStaleVersion):
						stale++
					default:
						t.Errorf("writer %d: %v", i, err)
					}
				}
				if wins != tt.wantWins || wins+stale != parallel {
					t.Errorf("%d wins and %d stale of %d, want %d wins and the rest stale", wins, stale, parallel, tt.wantWins)
				}
				p := e.c.Preference.Query().Where(entpref.Key(key)).OnlyX(softdelete.IncludeDeleted(sys()))
				if p.Version != tt.wantVer {
					t.Errorf("version %d, want %d", p.Version, tt.wantVer)
				}
				after := e.allActivities(t)
				verb := preference.VerbSet
				if deleting {
					verb = preference.VerbDeleted
				}
				if n := after[verb] - before[verb]; n != tt.wantWins {
					t.Errorf("%d %s activities, want %d (one per win)", n, verb, tt.wantWins)
				}
			})
		}
	})
}

// TestPreferencePermissions: who may write each level. A refusal comes
// before a stale version and records nothing.
func TestPreferencePermissions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		// Keys that exist, so that both the create and the update paths
		// are judged.
		e.set(t, preference.System, "", "", "existing", `1`)
		e.set(t, preference.Organization, e.org.ID, "", "existing", `1`)
		e.set(t, preference.User, "", e.member.ID, "existing", `1`)
		tests := []struct {
			name      string
			as        *ent.User
			level     preference.Level
			org, user pulid.ID
			allowed   bool
		}{
			{"member writes the organization level", e.member, preference.Organization, e.org.ID, "", false},
			{"viewer writes the organization level", e.viewer, preference.Organization, e.org.ID, "", false},
			{"outsider writes the organization level", e.outsider, preference.Organization, e.org.ID, "", false},
			{"org admin writes the organization level", e.admin, preference.Organization, e.org.ID, "", true},
			{"owner writes the organization level", e.owner, preference.Organization, e.org.ID, "", true},
			{"org admin writes another organization", e.admin, preference.Organization, e.other.ID, "", false},
			{"user writes its own level", e.member, preference.User, "", "", true},
			{"user names itself", e.member, preference.User, "", e.member.ID, true},
			{"user writes another user's level", e.admin, preference.User, "", e.member.ID, false},
			{"org owner writes a member's level", e.owner, preference.User, "", e.member.ID, false},
			{"superadmin writes a user's level", e.super, preference.User, "", e.member.ID, true},
			{"member writes the system level", e.member, preference.System, "", "", false},
			{"org admin writes the system level", e.admin, preference.System, "", "", false},
			{"platform admin writes the system level", e.platform, preference.System, "", "", true},
			{"platform admin writes an organization it is not in (platform:organization_manage)", e.platform, preference.Organization, e.org.ID, "", true},
			{"platform admin writes a user's level", e.platform, preference.User, "", e.member.ID, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := e.as(t, tt.as)
				fresh := "fresh." + strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r == ':' {
						return r
					}
					return '-'
				}, tt.name)
				for _, key := range []string{fresh, "existing"} {
					before := e.allActivities(t)
					in := preference.SetInput{Level: tt.level, OrganizationID: tt.org, UserID: tt.user, Key: key, Value: json.RawMessage(`{"by":"` + tt.as.Email + `"}`)}
					_, err := preference.Set(ctx, e.c, in)
					if tt.allowed != (err == nil) || (err != nil && !errors.Is(err, privacy.Deny)) {
						t.Fatalf("Set %s: %v, allowed %v", key, err, tt.allowed)
					}
					// A stale expected version is refused as the write is.
					in.ExpectedVersion = ptr(99)
					_, err = preference.Set(ctx, e.c, in)
					if tt.allowed && !errors.Is(err, preference.ErrStaleVersion) || !tt.allowed && !errors.Is(err, privacy.Deny) {
						t.Errorf("Set %s at a stale version: %v", key, err)
					}
					ok, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: tt.level, OrganizationID: tt.org, UserID: tt.user, Key: key})
					if tt.allowed != (err == nil) || (err != nil && !errors.Is(err, privacy.Deny)) || ok != tt.allowed {
						t.Errorf("Delete %s: %v, %v; allowed %v", key, ok, err, tt.allowed)
					}
					// Deleting what is not set: false, or the same refusal.
					ok, err = preference.Delete(ctx, e.c, preference.DeleteInput{Level: tt.level, OrganizationID: tt.org, UserID: tt.user, Key: key})
					if ok || tt.allowed != (err == nil) {
						t.Errorf("Delete %s again: %v, %v; allowed %v", key, ok, err, tt.allowed)
					}
					after := e.allActivities(t)
					want := map[string]int{}
					if tt.allowed {
						want[preference.VerbSet], want[preference.VerbDeleted] = 1, 1
					}
					for _, v := range []string{preference.VerbSet, preference.VerbDeleted} {
						if after[v]-before[v] != want[v] {
							t.Errorf("%s: %d new %s activities, want %d", key, after[v]-before[v], v, want[v])
						}
					}
					if len(after) > 2 {
						t.Errorf("activities %v: want only the verbs of package preference", after)
					}
				}
			})
		}
	})
}

// TestPreferenceValidation: keys, levels, owners and values.
func TestPreferenceValidation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.owner)
		long := strings.Repeat("k", 129)
		tests := []struct {
			name    string
			in      preference.SetInput
			field   string // "" for accepted
			stored  string // the stored key when accepted
			message string
		}{
			{name: "mixed case is lower-cased", in: preference.SetInput{Level: preference.User, Key: "UI.Theme", Value: json.RawMessage(`1`)}, stored: "ui.theme"},
			{name: "every allowed character", in: preference.SetInput{Level: preference.User, Key: "a0_.:-z", Value: json.RawMessage(`1`)}, stored: "a0_.:-z"},
			{name: "128 characters", in: preference.SetInput{Level: preference.User, Key: long[:128], Value: json.RawMessage(`1`)}, stored: long[:128]},
			{name: "129 characters", in: preference.SetInput{Level: preference.User, Key: long, Value: json.RawMessage(`1`)}, field: "key"},
			{name: "empty key", in: preference.SetInput{Level: preference.User, Key: "", Value: json.RawMessage(`1`)}, field: "key"},
			{name: "a space", in: preference.SetInput{Level: preference.User, Key: "ui theme", Value: json.RawMessage(`1`)}, field: "key", message: `"ui theme" is not a preference key`},
			{name: "a slash", in: preference.SetInput{Level: preference.User, Key: "ui/theme", Value: json.RawMessage(`1`)}, field: "key"},
			{name: "a leading dot", in: preference.SetInput{Level: preference.User, Key: ".theme", Value: json.RawMessage(`1`)}, field: "key"},
			{name: "not ASCII", in: preference.SetInput{Level: preference.User, Key: "thème", Value: json.RawMessage(`1`)}, field: "key"},
			{name: "SQL", in: preference.SetInput{Level: preference.User, Key: "x'; DROP TABLE cf_preferences; --", Value: json.RawMessage(`1`)}, field: "key"},
			{name: "unknown level", in: preference.SetInput{Level: "team", Key: "k", Value: json.RawMessage(`1`)}, field: "level"},
			{name: "system with an organization", in: preference.SetInput{Level: preference.System, OrganizationID: e.org.ID, Key: "k", Value: json.RawMessage(`1`)}, field: "organizationID"},
			{name: "organization without one", in: preference.SetInput{Level: preference.Organization, Key: "k", Value: json.RawMessage(`1`)}, field: "organizationID"},
			{name: "organization with a user", in: preference.SetInput{Level: preference.Organization, OrganizationID: e.org.ID, UserID: e.owner.ID, Key: "k", Value: json.RawMessage(`1`)}, field: "userID"},
			{name: "user with an organization", in: preference.SetInput{Level: preference.User, OrganizationID: e.org.ID, Key: "k", Value: json.RawMessage(`1`)}, field: "organizationID"},
			{name: "null value", in: preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`null`)}, field: "value", message: "delete the key"},
			{name: "no value", in: preference.SetInput{Level: preference.User, Key: "k"}, field: "value"},
			{name: "malformed JSON", in: preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`{"a":`)}, field: "value"},
			{name: "two values", in: preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`1 2`)}, field: "value"},
			{name: "a NUL character", in: preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`{"a":["x\u0000y"]}`)}, field: "value", message: `"/a/0"`},
			{name: "over 64 KiB", in: preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)}, field: "value", message: "over the limit of 65536"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := preference.Set(ctx, e.c, tt.in)
				if tt.field == "" {
					if err != nil {
						t.Fatalf("Set: %v", err)
					}
					if p.Key != tt.stored {
						t.Errorf("stored key %q, want %q", p.Key, tt.stored)
					}
					return
				}
				var v *validation.Error
				if !errors.As(err, &v) || v.Field != tt.field {
					t.Fatalf("Set: %v, want invalid %s", err, tt.field)
				}
				if !strings.Contains(err.Error(), tt.message) {
					t.Errorf("message %q does not say %q", err, tt.message)
				}
			})
		}
		// The system actor has no user level of its own.
		_, err := preference.Set(sys(), e.c, preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`1`)})
		var v *validation.Error
		if !errors.As(err, &v) || v.Field != "userID" {
			t.Errorf("Set as the system without a user: %v, want invalid userID", err)
		}
		// Values are stored re-encoded, keys sorted, numbers as written.
		p, err := preference.Set(ctx, e.c, preference.SetInput{Level: preference.User, Key: "encoded", Value: json.RawMessage(" {\"b\": 1.50, \"a\": [1e2, \"<&>\"]}\n")})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(e.c.Preference.GetX(sys(), p.ID).Value); !sameJSON(t, []byte(got), []byte(`{"a":[100,"<&>"],"b":1.5}`)) {
			t.Errorf("stored %s", got)
		}
		if string(p.Value) != `{"a":[1e2,"<&>"],"b":1.50}` {
			t.Errorf("Set answers %s, want the canonical encoding", p.Value)
		}
	})
}

// TestPreferenceSchema: values must satisfy the JSON Schema of their key;
// the refusal names the failing locations.
func TestPreferenceSchema(t *testing.T) {
	const themeSchema = `{
		"type": "object",
		"properties": {
			"mode": {"enum": ["light", "dark"]},
			"font": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 8}}},
			"tags": {"type": "array", "items": {"type": "string"}},
			"email": {"type": "string", "format": "email"}
		},
		"additionalProperties": false
	}`
	declare := func(t *testing.T) *preference.Service {
		t.Helper()
		svc := preference.NewService()
		if err := svc.Declare("UI.Theme", json.RawMessage(themeSchema)); err != nil {
			t.Fatalf("Declare: %v", err)
		}
		if _, ok := svc.Schema("ui.theme"); !ok {
			t.Fatal("Schema: not declared")
		}
		return svc
	}
	t.Run("invalid schemas", func(t *testing.T) {
		svc := declare(t)
		for _, s := range []string{
			`{"type": "colour"}`,
			`{"minimum": "one"}`,
			`[1]`,
			`{"$ref": "file:///etc/passwd"}`,
			`{"$ref": "https://example.com/schema.json"}`,
			`{"type":`,
		} {
			if err := svc.Declare("bad", json.RawMessage(s)); !errors.Is(err, preference.ErrInvalidSchema) {
				t.Errorf("Declare(%s): %v, want ErrInvalidSchema", s, err)
			}
		}
		var v *validation.Error
		if err := svc.Declare("bad key", json.RawMessage(`{}`)); !errors.As(err, &v) || v.Field != "key" {
			t.Errorf("Declare with a bad key: %v", err)
		}
		if _, ok := svc.Schema("bad"); ok {
			t.Error("a refused schema was declared")
		}
	})
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		svc := declare(t)
		ctx := e.as(t, e.admin)
		tests := []struct {
			name      string
			level     preference.Level
			value     string
			locations []string // nil: accepted
			reason    string
		}{
			{"valid", preference.User, `{"mode":"dark","font":{"size":12},"tags":["a"]}`, nil, ""},
			{"valid at the organization level", preference.Organization, `{"mode":"light"}`, nil, ""},
			{"a bad enum value", preference.User, `{"mode":"blue"}`, []string{"/mode"}, "value must be one of"},
			{"nested", preference.Organization, `{"font":{"size":4}}`, []string{"/font/size"}, "minimum"},
			{"an array item", preference.User, `{"tags":["a",2]}`, []string{"/tags/1"}, "want string"},
			{"an unknown member", preference.User, `{"colour":"red"}`, []string{""}, "additional properties"},
			{"the wrong type", preference.User, `"dark"`, []string{""}, "want object"},
			{"a format", preference.User, `{"email":"not an address"}`, []string{"/email"}, "email"},
			{"several at once", preference.User, `{"mode":"x","font":{"size":1}}`, []string{"/mode", "/font/size"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := preference.SetInput{Level: tt.level, Key: "ui.theme", Value: json.RawMessage(tt.value)}
				if tt.level == preference.Organization {
					in.OrganizationID = e.org.ID
				}
				before := e.allActivities(t)
				_, err := svc.Set(ctx, e.c, in)
				if tt.locations == nil {
					if err != nil {
						t.Fatalf("Set: %v", err)
					}
					return
				}
				var v *validation.Error
				var se *preference.SchemaError
				if !errors.As(err, &v) || v.Field != "value" || !errors.As(err, &se) || !errors.Is(err, preference.ErrSchemaViolation) {
					t.Fatalf("Set: %v, want invalid value wrapping a *SchemaError", err)
				}
				var locs []string
				for _, x := range se.Violations {
					locs = append(locs, x.Location)
				}
				slices.Sort(locs)
				want := slices.Sorted(slices.Values(tt.locations))
				if !slices.Equal(locs, want) || se.Key != "ui.theme" {
					t.Errorf("violations %+v, want at %q", se.Violations, tt.locations)
				}
				for _, l := range tt.locations {
					if l != "" && !strings.Contains(err.Error(), "at "+l+": ") {
						t.Errorf("message %q does not name %s", err, l)
					}
				}
				if !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("message %q does not say %q", err, tt.reason)
				}
				if after := e.allActivities(t); after[preference.VerbSet] != before[preference.VerbSet] {
					t.Error("a refused value was recorded")
				}
			})
		}
		// The package's Default has no schema for the key; a forgotten
		// schema checks nothing.
		if _, err := preference.Set(ctx, e.c, preference.SetInput{Level: preference.User, Key: "ui.theme", Value: json.RawMessage(`"anything"`)}); err != nil {
			t.Errorf("Default Set: %v", err)
		}
		svc.Forget("ui.theme")
		if _, err := svc.Set(ctx, e.c, preference.SetInput{Level: preference.User, Key: "ui.theme", Value: json.RawMessage(`"still anything"`)}); err != nil {
			t.Errorf("Set after Forget: %v", err)
		}
	})
}

// TestPreferenceActivity: each change is recorded once, in the words of
// the package, with the level, key, old and new values and the version;
// no-ops and refusals are not recorded, and the generic audit records of
// the writes are not made.
func TestPreferenceActivity(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		admin := e.as(t, e.admin)
		member := e.as(t, e.member)
		org := preference.SetInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "ui.theme"}
		with := func(in preference.SetInput, v string) preference.SetInput { in.Value = json.RawMessage(v); return in }
		steps := []struct {
			name string
			ctx  context.Context
			run  func(ctx context.Context) error
			verb string // "" for no activity
			data string
		}{
			{"first set", admin, func(ctx context.Context) error {
				_, err := preference.Set(ctx, e.c, with(org, `{"mode":"light"}`))
				return err
			}, preference.VerbSet, `{"key":"ui.theme","level":"organization","new":{"mode":"light"},"version":1}`},
			{"change", admin, func(ctx context.Context) error {
				_, err := preference.Set(ctx, e.c, with(org, `{"mode":"dark"}`))
				return err
			}, preference.VerbSet, `{"key":"ui.theme","level":"organization","new":{"mode":"dark"},"old":{"mode":"light"},"version":2}`},
			{"same value", admin, func(ctx context.Context) error {
				_, err := preference.Set(ctx, e.c, with(org, `{"mode":"dark"}`))
				return err
			}, "", ""},
			{"refused", member, func(ctx context.Context) error {
				if _, err := preference.Set(ctx, e.c, with(org, `{"mode":"x"}`)); !errors.Is(err, privacy.Deny) {
					return errors.New("not refused")
				}
				return nil
			}, "", ""},
			{"stale", admin, func(ctx context.Context) error {
				in := with(org, `{"mode":"x"}`)
				in.ExpectedVersion = ptr(1)
				if _, err := preference.Set(ctx, e.c, in); !errors.Is(err, preference.ErrStaleVersion) {
					return errors.New("not stale")
				}
				return nil
			}, "", ""},
			{"delete", admin, func(ctx context.Context) error {
				_, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "ui.theme"})
				return err
			}, preference.VerbDeleted, `{"key":"ui.theme","level":"organization","old":{"mode":"dark"},"version":3}`},
			{"delete again", admin, func(ctx context.Context) error {
				_, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "ui.theme"})
				return err
			}, "", ""},
			{"set after delete has no old value", admin, func(ctx context.Context) error {
				_, err := preference.Set(ctx, e.c, with(org, `[1,2]`))
				return err
			}, preference.VerbSet, `{"key":"ui.theme","level":"organization","new":[1,2],"version":4}`},
		}
		var id pulid.ID
		seen := 0
		for _, s := range steps {
			if err := s.run(s.ctx); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if id == "" {
				id = e.c.Preference.Query().Where(entpref.Key("ui.theme")).OnlyIDX(sys())
			}
			acts := e.activities(t, id, preference.VerbSet, preference.VerbDeleted)
			want := seen
			if s.verb != "" {
				want++
			}
			if len(acts) != want {
				t.Fatalf("%s: %d activities, want %d", s.name, len(acts), want)
			}
			seen = want
			if s.verb == "" {
				continue
			}
			a := acts[len(acts)-1]
			if a.Verb != s.verb || a.ObjectType != "Preference" || a.OrganizationID == nil || *a.OrganizationID != e.org.ID ||
				a.ActorUserID == nil || *a.ActorUserID != e.admin.ID {
				t.Errorf("%s: activity %s %s/%s org %v actor %v", s.name, a.Verb, a.ObjectType, a.ObjectID, a.OrganizationID, a.ActorUserID)
			}
			if got := asJSON(t, a.Data); !sameJSON(t, []byte(got), []byte(s.data)) {
				t.Errorf("%s: data %s, want %s", s.name, got, s.data)
			}
		}
		if got := e.allActivities(t); len(got) != 2 {
			t.Errorf("preference activities by verb %v: want only %s and %s (no generic audit records)", got, preference.VerbSet, preference.VerbDeleted)
		}
		// A user preference is recorded outside any organization.
		p, err := preference.Set(member, e.c, preference.SetInput{Level: preference.User, Key: "ui.theme", Value: json.RawMessage(`"dark"`)})
		if err != nil {
			t.Fatal(err)
		}
		acts := e.activities(t, p.ID, preference.VerbSet)
		if len(acts) != 1 || acts[0].OrganizationID != nil || asJSON(t, acts[0].Data) != `{"key":"ui.theme","level":"user","new":"dark","version":1}` {
			t.Errorf("user-level activity: %+v", acts)
		}
	})
}

// TestPreferenceInCallersTransaction: Set and Delete join the caller's
// transaction; a rollback undoes the write and its activity.
func TestPreferenceInCallersTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.member)
		tx, err := e.c.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := preference.Set(ctx, tx.Client(), preference.SetInput{Level: preference.User, Key: "k", Value: json.RawMessage(`1`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := preference.Get(ctx, tx.Client(), preference.GetInput{Level: preference.User, Key: "k"}); err != nil {
			t.Errorf("Get in the transaction: %v", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if _, err := preference.Get(ctx, e.c, preference.GetInput{Level: preference.User, Key: "k"}); !errors.Is(err, preference.ErrNotSet) {
			t.Errorf("Get after rollback: %v, want ErrNotSet", err)
		}
		if n := len(e.allActivities(t)); n != 0 {
			t.Errorf("%d activities after rollback", n)
		}
	})
}

// TestPreferenceMerge covers Merge on decoded values, which it leaves
// unchanged.
func TestPreferenceMerge(t *testing.T) {
	tests := []struct{ broad, narrow, want string }{
		{`{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{`{"a":{"x":1,"y":2}}`, `{"a":{"y":3}}`, `{"a":{"x":1,"y":3}}`},
		{`{"a":{"x":1}}`, `{"a":5}`, `{"a":5}`},
		{`{"a":5}`, `{"a":{"x":1}}`, `{"a":{"x":1}}`},
		{`[1,2]`, `[3]`, `[3]`},
		{`{"a":[1,2]}`, `{"a":[3]}`, `{"a":[3]}`},
		{`"s"`, `{"a":1}`, `{"a":1}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
		{`{"a":1}`, `{"a":null}`, `{"a":null}`},
	}
	for _, tt := range tests {
		var b, n any
		_ = json.Unmarshal([]byte(tt.broad), &b)
		_ = json.Unmarshal([]byte(tt.narrow), &n)
		got, _ := json.Marshal(preference.Merge(b, n))
		if !sameJSON(t, got, []byte(tt.want)) {
			t.Errorf("Merge(%s, %s) = %s, want %s", tt.broad, tt.narrow, got, tt.want)
		}
		if again, _ := json.Marshal(b); !sameJSON(t, again, []byte(tt.broad)) {
			t.Errorf("Merge changed its broad argument to %s", again)
		}
	}
}

// TestPreferenceWriteWithoutRead: a role with preference:write and without
// preference:read creates keys of its organization but cannot see, change
// or delete them.
func TestPreferenceWriteWithoutRead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		lvl := 20
		role, err := tenancy.CreateRole(e.as(t, e.owner), e.c, ent.CreateRoleInput{OrganizationID: &e.org.ID, Key: "pref_writer", Name: "Preference writer",
			Level: &lvl, Permissions: []string{permission.PreferenceWrite}})
		if err != nil {
			t.Fatalf("CreateRole: %v", err)
		}
		writer := e.c.User.Create().SetEmail("writer@acme.com").SetStatus(user.StatusActive).SaveX(sys())
		if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: writer.ID, RoleIDs: []pulid.ID{role.ID}}); err != nil {
			t.Fatal(err)
		}
		ctx := e.as(t, writer)
		in := preference.SetInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "blind", Value: json.RawMessage(`1`)}
		if _, err := preference.Set(ctx, e.c, in); err != nil {
			t.Fatalf("first Set: %v", err)
		}
		if _, err := preference.Get(ctx, e.c, preference.GetInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "blind"}); !errors.Is(err, preference.ErrNotSet) {
			t.Errorf("Get: %v, want ErrNotSet", err)
		}
		in.Value = json.RawMessage(`2`)
		if _, err := preference.Set(ctx, e.c, in); !errors.Is(err, privacy.Deny) || !strings.Contains(err.Error(), "preference:read") {
			t.Errorf("second Set: %v, want a refusal naming preference:read", err)
		}
		in.ExpectedVersion = ptr(0)
		if _, err := preference.Set(ctx, e.c, in); !errors.Is(err, privacy.Deny) {
			t.Errorf("Set expecting 0: %v, want a refusal", err)
		}
		if ok, err := preference.Delete(ctx, e.c, preference.DeleteInput{Level: preference.Organization, OrganizationID: e.org.ID, Key: "blind"}); ok || err != nil {
			t.Errorf("Delete = %v, %v; want false", ok, err)
		}
		if p := e.c.Preference.Query().Where(entpref.Key("blind")).OnlyX(sys()); p.Version != 1 || string(p.Value) != "1" {
			t.Errorf("stored %s at version %d, want 1 at 1", p.Value, p.Version)
		}
	})
}
