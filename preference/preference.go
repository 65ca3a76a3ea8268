// Package preference reads and writes scoped preferences: JSON settings
// at the system, organization and user levels, resolved for a user in an
// organization as system < organization < user.
//
// # Levels and who may write them
//
// A key is set at most once per level and owner: once for the system,
// once per organization, once per user. The privacy policy of the
// Preference entity decides every read and write, whichever way in (this
// package, the GraphQL API, the ent client):
//
//   - system: readable by every actor; written with
//     platform:settings_manage (platform admins, outside an active
//     organization);
//   - organization: read with preference:read and written with
//     preference:write in the organization;
//   - user: a user's own (a personal API key needs the preference:read or
//     preference:write scope).
//
// Platform superadmins reach every level; platform admins also read and
// write every organization's level (platform:organization_manage). An
// actor that may write a level but not read it (a custom role with
// preference:write and without preference:read) can create keys there,
// but not see, change or delete them: a write of a key it cannot see is
// refused, Delete reports it not set.
//
// A refusal of the policy comes before any other answer about the key: an
// actor that may not write a key learns nothing about its version from a
// write.
//
// # Keys and values
//
// Keys are case-insensitive (stored lower-case): up to 128 letters,
// digits, '_', '.', ':' and '-', starting with a letter or digit. A value
// is any JSON value but null, of at most schema.MaxJSONBytes (64 KiB)
// encoded; it is stored re-encoded (object keys sorted, no insignificant
// white space), so both databases hold the same text. A key may have a
// JSON Schema (Service.Declare) that every value written at any level must
// satisfy; refusals are *validation.Error wrapping a *SchemaError, which
// names the JSON Pointer of each failing part of the value.
//
// # Versions and deletion
//
// Every key has a version per level and owner that only grows: 1 when it
// is first set, one more with every change. Delete does not remove the
// row: it keeps it as a tombstone whose value is JSON null and bumps its
// version, so a later Set continues from there instead of restarting at 1
// (an old expected version can never match again). Get, Effective and
// the version checks treat a tombstone as not set; the preferences
// connection of the GraphQL API and the ent client show it as a row with
// value null.
//
// Set and Delete take an optional expected version: the write happens
// only if the key's version at the level is that one, 0 meaning "not set"
// (never set, or deleted); otherwise they return a *VersionError
// (matching ErrStaleVersion and authz.ErrConcurrentUpdate: GraphQL
// CONFLICT). The check is a conditional UPDATE ... WHERE version = v (or
// the unique index of the level for a first write) inside the write's
// transaction, so of concurrent writers expecting the same version
// exactly one succeeds. Without an expected version a write is applied
// over whatever is there (last writer wins). Setting the value a key
// already holds, or deleting a key that is not set, changes nothing: no
// new version, no activity.
//
// # Activity
//
// Every change is recorded once, in its transaction, as preference.set or
// preference.deleted with data {level, key, old, new, version}: old is
// the value before (absent when the key was not set), new the value after
// (absent for a deletion), version the key's version after the change.
// Refused and no-op writes record nothing.
package preference

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	entpref "github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/validation"
)

// Level is the scope of a preference: System, Organization or User. It is
// the scope enum of the ent schema (and of the GraphQL API).
type Level = entpref.Scope

// The levels, broadest first.
const (
	System       Level = entpref.ScopeSystem
	Organization Level = entpref.ScopeOrganization
	User         Level = entpref.ScopeUser
)

// Levels lists the levels, broadest first: the order of resolution.
var Levels = []Level{System, Organization, User}

// The activity verbs of this package.
const (
	VerbSet     = "preference.set"
	VerbDeleted = "preference.deleted"
)

// keyRE is the rule of the ent schema's key validator (validatePrefKey).
var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,127}$`)

// NormalizeKey returns key in lower case, or a *validation.Error for
// field "key" when it is not a preference key.
func NormalizeKey(key string) (string, error) {
	return normalizeKey("key", key)
}

func normalizeKey(field, key string) (string, error) {
	k := strings.ToLower(key)
	if !keyRE.MatchString(k) {
		return "", validation.Errorf(field, "%q is not a preference key: use 1 to 128 letters, digits and '_', '.', ':' or '-', starting with a letter or digit", key)
	}
	return k, nil
}

// slot is one level's place of a key: the row Set and Delete write.
type slot struct {
	level     Level
	org, user pulid.ID
	key       string
}

func (s slot) String() string {
	switch s.level {
	case Organization:
		return fmt.Sprintf("%q of organization %s", s.key, s.org)
	case User:
		return fmt.Sprintf("%q of user %s", s.key, s.user)
	}
	return fmt.Sprintf("system preference %q", s.key)
}

// newSlot checks the owner columns of a level and the key. An empty user
// of the user level is the actor's own user.
func newSlot(ctx context.Context, level Level, org, user pulid.ID, key string) (slot, error) {
	if err := entpref.ScopeValidator(level); err != nil {
		return slot{}, validation.Errorf("level", "%q is not a level: want system, organization or user", level)
	}
	s := slot{level: level, org: org, user: user}
	switch level {
	case System:
		if org != "" {
			return slot{}, validation.Errorf("organizationID", "a system preference belongs to no organization: leave organizationID out")
		}
		if user != "" {
			return slot{}, validation.Errorf("userID", "a system preference belongs to no user: leave userID out")
		}
	case Organization:
		if org == "" {
			return slot{}, validation.Errorf("organizationID", "an organization preference needs its organization")
		}
		if user != "" {
			return slot{}, validation.Errorf("userID", "an organization preference belongs to no user: leave userID out")
		}
	case User:
		if org != "" {
			return slot{}, validation.Errorf("organizationID", "a user preference belongs to no organization: leave organizationID out")
		}
		if s.user == "" {
			if s.user = viewer(ctx); s.user == "" {
				return slot{}, validation.Errorf("userID", "the actor is not a user (the system or an organization API key): name the user")
			}
		}
	}
	k, err := normalizeKey("key", key)
	if err != nil {
		return slot{}, err
	}
	s.key = k
	return s, nil
}

// viewer returns the acting user: "" for the system and organization API
// keys, which act for no person.
func viewer(ctx context.Context) pulid.ID {
	if g, ok := authz.FromContext(ctx); ok {
		return g.UserID()
	}
	if a := actor.FromContext(ctx); a != nil && a.Kind() == actor.KindUser {
		return a.UserID()
	}
	return ""
}

// query selects the row of s (tombstone included).
func (s slot) query(c *ent.Client) *ent.PreferenceQuery {
	q := c.Preference.Query().Where(entpref.ScopeEQ(s.level), entpref.Key(s.key))
	switch s.level {
	case Organization:
		q.Where(entpref.OrganizationID(s.org))
	case User:
		q.Where(entpref.UserID(s.user))
	}
	return q
}

// read returns the row of s that the actor may read, tombstone included,
// or nil; lock locks it until the end of the transaction (PostgreSQL).
func (s slot) read(ctx context.Context, c *ent.Client, lock bool) (*ent.Preference, error) {
	q := s.query(c)
	if lock {
		q.Where(txn.ForUpdate)
	}
	p, err := q.Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("preference: reading %s: %w", s, err)
	}
	return p, nil
}

// create is the insert of s with value v; it inserts nothing when the row
// exists (the unique index of the level), and Save then returns
// sql.ErrNoRows.
func (s slot) create(c *ent.Client, v []byte, by pulid.ID) *ent.PreferenceCreate {
	pc := c.Preference.Create().SetScope(s.level).SetKey(s.key).SetValue(v)
	target := []entsql.ConflictOption{entsql.ConflictColumns(entpref.FieldKey)}
	switch s.level {
	case Organization:
		pc.SetOrganizationID(s.org)
		target = []entsql.ConflictOption{entsql.ConflictColumns(entpref.FieldOrganizationID, entpref.FieldKey)}
	case User:
		pc.SetUserID(s.user)
		target = []entsql.ConflictOption{entsql.ConflictColumns(entpref.FieldUserID, entpref.FieldKey)}
	}
	if by != "" {
		pc.SetUpdatedByID(by)
	}
	// The partial unique index of the level (cf_preferences_<level>_key),
	// written as a literal so that PostgreSQL infers the index.
	target = append(target, entsql.ConflictWhere(entsql.ExprP(fmt.Sprintf("%s = '%s'", entpref.FieldScope, s.level))))
	pc.OnConflict(target...).DoNothing()
	return pc
}

// update is the write of v over row p, applied only while p is at the
// version it was read at (the schema's hook bumps the version).
func update(c *ent.Client, p *ent.Preference, v []byte, by pulid.ID) *ent.PreferenceUpdateOne {
	u := c.Preference.UpdateOneID(p.ID).Where(entpref.Version(p.Version)).SetValue(v)
	if by != "" {
		u.SetUpdatedByID(by)
	} else {
		u.ClearUpdatedBy()
	}
	return u
}

// mayWrite evaluates the privacy policy of m without running it: nil when
// the actor may make the write, the policy's refusal otherwise.
func mayWrite(ctx context.Context, s slot, m ent.Mutation) error {
	if err := entpref.Policy.EvalMutation(ctx, m); err != nil {
		return fmt.Errorf("preference: writing %s: %w", s, err)
	}
	return nil
}

// isNull reports whether a stored value is a tombstone.
func isNull(v []byte) bool {
	t := strings.TrimSpace(string(v))
	return t == "" || t == "null"
}

// versionOf returns the version of p for expected-version checks: 0 when
// the key is not set (no row, or a tombstone).
func versionOf(p *ent.Preference) int {
	if p == nil || isNull(p.Value) {
		return 0
	}
	return p.Version
}

// attempts bounds how often a write without an expected version starts
// over after losing a race for a first insert.
const attempts = 3

// SetInput is the input of Set.
type SetInput struct {
	Level Level
	// OrganizationID is the organization of an organization preference;
	// empty at the other levels.
	OrganizationID pulid.ID
	// UserID is the user of a user preference, the actor's own user when
	// empty; empty at the other levels.
	UserID pulid.ID
	// Key is case-insensitive.
	Key string
	// Value is the JSON value; not null (use Delete).
	Value json.RawMessage
	// ExpectedVersion, when not nil, makes the write conditional: it
	// happens only if the key's version at the level is this one, 0
	// meaning "not set".
	ExpectedVersion *int
}

// Set sets a key at a level to a value, as the actor of ctx, through
// client (join a transaction by passing its client; otherwise Set runs in
// a transaction of its own), and returns the stored row with its new
// version. The value is checked against the key's schema in the Default
// Service (see Service.Set).
func Set(ctx context.Context, client *ent.Client, in SetInput) (*ent.Preference, error) {
	return Default.Set(ctx, client, in)
}

// Set sets a key at a level to a value, as the actor of ctx, through
// client (join a transaction by passing its client; otherwise Set runs in
// a transaction of its own), and returns the stored row with its new
// version; setting the value the key holds returns the row unchanged.
//
// Set returns a *validation.Error for bad input (field level,
// organizationID, userID, key, value or expectedVersion; a value that
// breaks the key's schema wraps a *SchemaError), a *VersionError when
// in.ExpectedVersion is not the key's version, and an error wrapping
// privacy.Deny when the policy refuses the write.
func (s *Service) Set(ctx context.Context, client *ent.Client, in SetInput) (*ent.Preference, error) {
	// The key's row may be a tombstone (a deleted key keeps its version).
	ctx = softdelete.WithTombstones(ctx)
	sl, err := newSlot(ctx, in.Level, in.OrganizationID, in.UserID, in.Key)
	if err != nil {
		return nil, err
	}
	if err := checkExpected(in.ExpectedVersion); err != nil {
		return nil, err
	}
	value, err := s.check(sl.key, in.Value)
	if err != nil {
		return nil, err
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.Preference, error) {
		return set(ctx, c, sl, value, in.ExpectedVersion)
	})
}

func checkExpected(v *int) error {
	if v != nil && *v < 0 {
		return validation.Errorf("expectedVersion", "%d is not a version: versions start at 1, and 0 means \"not set\"", *v)
	}
	return nil
}

func set(ctx context.Context, c *ent.Client, s slot, value []byte, expected *int) (*ent.Preference, error) {
	dctx := trail.Domain(ctx)
	by := viewer(ctx)
	for range attempts {
		// Without an expected version the row is locked, so that
		// concurrent writers of the key take turns (PostgreSQL; SQLite
		// runs one writer at a time); with one, the conditional update
		// below decides.
		cur, err := s.read(dctx, c, expected == nil)
		if err != nil {
			return nil, err
		}
		if expected != nil && *expected != versionOf(cur) {
			if err := mayWrite(dctx, s, writeMutation(c, s, cur, value, by)); err != nil {
				return nil, err
			}
			return nil, &VersionError{Level: s.level, Key: s.key, Expected: *expected, Current: versionOf(cur)}
		}
		if cur != nil && !isNull(cur.Value) && sameJSON(cur.Value, value) {
			if err := mayWrite(dctx, s, writeMutation(c, s, cur, value, by)); err != nil {
				return nil, err
			}
			return cur, nil
		}
		var p *ent.Preference
		if cur == nil {
			p, err = s.create(c, value, by).Save(dctx)
			if errors.Is(err, sql.ErrNoRows) {
				// Another transaction inserted the row since the read, or
				// it is out of the actor's reach.
				if expected != nil {
					return nil, stale(dctx, c, s, *expected)
				}
				if err := hidden(dctx, c, s); err != nil {
					return nil, err
				}
				continue
			}
		} else {
			p, err = update(c, cur, value, by).Save(dctx)
			if ent.IsNotFound(err) {
				// Another transaction wrote the row since the read.
				if expected != nil {
					return nil, stale(dctx, c, s, *expected)
				}
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("preference: writing %s: %w", s, err)
		}
		data := map[string]any{"level": string(s.level), "key": s.key, "new": jsonValue(value), "version": p.Version}
		if cur != nil && !isNull(cur.Value) {
			data["old"] = jsonValue(cur.Value)
		}
		if err := record(ctx, c, VerbSet, s, p, data); err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s kept changing while it was written", authz.ErrConcurrentUpdate, s)
}

// writeMutation is the write Set would make of s over cur (nil: none
// yet), for the policy to judge.
func writeMutation(c *ent.Client, s slot, cur *ent.Preference, value []byte, by pulid.ID) ent.Mutation {
	if cur == nil {
		return s.create(c, value, by).Mutation()
	}
	return update(c, cur, value, by).Mutation()
}

// stale returns the *VersionError of a conditional write that lost a race:
// the key's version now, as the actor may read it.
func stale(ctx context.Context, c *ent.Client, s slot, expected int) error {
	cur, err := s.read(ctx, c, false)
	if err != nil {
		return err
	}
	if cur == nil {
		return denyHidden(s)
	}
	return &VersionError{Level: s.level, Key: s.key, Expected: expected, Current: versionOf(cur)}
}

// hidden refuses a write of s whose insert met an existing row that the
// actor does not see: it may write the level but not read it.
func hidden(ctx context.Context, c *ent.Client, s slot) error {
	cur, err := s.read(ctx, c, false)
	if err != nil {
		return err
	}
	if cur == nil {
		return denyHidden(s)
	}
	return nil
}

func denyHidden(s slot) error {
	return fmt.Errorf("preference: writing %s: %w", s, privacy.Denyf("the key is set at this level, and changing it needs preference:read there too"))
}

// record writes the activity of a change of p.
func record(ctx context.Context, c *ent.Client, verb string, s slot, p *ent.Preference, data map[string]any) error {
	if err := trail.Record(ctx, c, trail.Event{Verb: verb, ObjectType: "Preference", ObjectID: p.ID, Organization: s.org, Data: data}); err != nil {
		return fmt.Errorf("preference: recording %s of %s: %w", verb, s, err)
	}
	return nil
}

// DeleteInput is the input of Delete.
type DeleteInput struct {
	Level          Level
	OrganizationID pulid.ID
	// UserID is the user of a user preference, the actor's own user when
	// empty.
	UserID pulid.ID
	Key    string
	// ExpectedVersion, when not nil, makes the deletion conditional: it
	// happens only if the key's version at the level is this one (0: the
	// key is not set, and nothing is deleted).
	ExpectedVersion *int
}

// Delete unsets a key at a level, as the actor of ctx, through client
// (join a transaction by passing its client). It reports false, changing
// nothing, when the key is not set there. The row stays as a tombstone
// with the next version (see the package documentation), so versions keep
// growing across a deletion.
//
// Delete returns a *validation.Error for bad input, a *VersionError when
// in.ExpectedVersion is not the key's version, and an error wrapping
// privacy.Deny when the policy refuses the write (also when the key is
// not set).
func Delete(ctx context.Context, client *ent.Client, in DeleteInput) (bool, error) {
	return Default.Delete(ctx, client, in)
}

// Delete is the package's Delete; it does not depend on the schemas of s.
func (s *Service) Delete(ctx context.Context, client *ent.Client, in DeleteInput) (bool, error) {
	// The key's row may be a tombstone (a deleted key keeps its version).
	ctx = softdelete.WithTombstones(ctx)
	sl, err := newSlot(ctx, in.Level, in.OrganizationID, in.UserID, in.Key)
	if err != nil {
		return false, err
	}
	if err := checkExpected(in.ExpectedVersion); err != nil {
		return false, err
	}
	return txn.Run(ctx, client, func(c *ent.Client) (bool, error) {
		return remove(ctx, c, sl, in.ExpectedVersion)
	})
}

var null = []byte("null")

func remove(ctx context.Context, c *ent.Client, s slot, expected *int) (bool, error) {
	dctx := trail.Domain(ctx)
	by := viewer(ctx)
	for range attempts {
		cur, err := s.read(dctx, c, expected == nil)
		if err != nil {
			return false, err
		}
		v := versionOf(cur)
		if (expected != nil && *expected != v) || v == 0 {
			if err := mayWrite(dctx, s, writeMutation(c, s, cur, null, by)); err != nil {
				return false, err
			}
			if expected != nil && *expected != v {
				return false, &VersionError{Level: s.level, Key: s.key, Expected: *expected, Current: v}
			}
			return false, nil
		}
		p, err := update(c, cur, null, by).Save(dctx)
		if ent.IsNotFound(err) {
			if expected != nil {
				return false, stale(dctx, c, s, *expected)
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("preference: deleting %s: %w", s, err)
		}
		data := map[string]any{"level": string(s.level), "key": s.key, "old": jsonValue(cur.Value), "version": p.Version}
		if err := record(ctx, c, VerbDeleted, s, p, data); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, fmt.Errorf("%w: %s kept changing while it was deleted", authz.ErrConcurrentUpdate, s)
}

// GetInput names a key at a level for Get.
type GetInput struct {
	Level          Level
	OrganizationID pulid.ID
	// UserID is the user of a user preference, the actor's own user when
	// empty.
	UserID pulid.ID
	Key    string
}

// Get returns the row of a key at one level, as the actor of ctx may read
// it, or ErrNotSet when the key is not set there (never set, deleted, or
// out of the actor's reach, which Get does not tell apart).
func Get(ctx context.Context, client *ent.Client, in GetInput) (*ent.Preference, error) {
	// The key's row may be a tombstone (a deleted key keeps its version).
	ctx = softdelete.WithTombstones(ctx)
	sl, err := newSlot(ctx, in.Level, in.OrganizationID, in.UserID, in.Key)
	if err != nil {
		return nil, err
	}
	p, err := sl.read(ctx, client, false)
	if err != nil {
		return nil, err
	}
	if versionOf(p) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotSet, sl)
	}
	return p, nil
}
