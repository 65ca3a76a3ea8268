package rule_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/privacy"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/migrate"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/validation"
)

// entityOps lists, per table, a read and a create through the client. A
// table of the schema missing here fails TestEveryEntityHasAPolicy.
func entityOps(c *ent.Client, f fixture) map[string]struct {
	read   func(context.Context) error
	create func(context.Context) error
} {
	type ops = struct {
		read   func(context.Context) error
		create func(context.Context) error
	}
	count := func(q interface {
		Count(context.Context) (int, error)
	}) func(context.Context) error {
		return func(ctx context.Context) error { _, err := q.Count(ctx); return err }
	}
	return map[string]ops{
		"cf_users": {count(c.User.Query()), func(ctx context.Context) error {
			return c.User.Create().SetEmail("new-" + string(pulid.New("usr"))[4:] + "@example.com").Exec(ctx)
		}},
		"cf_organizations": {count(c.Organization.Query()), func(ctx context.Context) error {
			return c.Organization.Create().SetName("N").SetSlug(strings.ToLower(string(pulid.New("org"))[4:])).Exec(ctx)
		}},
		"cf_memberships": {count(c.Membership.Query()), func(ctx context.Context) error {
			sys := actor.NewContext(context.Background(), actor.System("test"))
			u := c.User.Create().SetEmail("m-" + strings.ToLower(string(pulid.New("usr"))[4:]) + "@example.com").SaveX(sys)
			return c.Membership.Create().SetUserID(u.ID).SetOrganizationID(f.org).AddRoleIDs(permission.MemberRoleID).Exec(ctx)
		}},
		"cf_roles": {count(c.Role.Query()), func(ctx context.Context) error {
			return c.Role.Create().SetOrganizationID(f.org).SetKey("k" + strings.ToLower(string(pulid.New("rol"))[20:])).SetName("R").Exec(ctx)
		}},
		"cf_oauth_accounts": {count(c.OAuthAccount.Query()), func(ctx context.Context) error {
			return c.OAuthAccount.Create().SetUserID(f.user).SetProvider("github").SetProviderUserID(string(pulid.New("oac"))).Exec(ctx)
		}},
		"cf_api_keys": {count(c.APIKey.Query()), func(ctx context.Context) error {
			_, _, err := apikey.Create(ctx, c, apikey.Params{Name: "k", OwnerID: f.user, Scopes: []string{"*"}})
			return err
		}},
		"cf_refresh_tokens": {count(c.RefreshToken.Query()), func(ctx context.Context) error {
			sys := actor.NewContext(context.Background(), actor.System("test"))
			s, err := newSession(c, f.user, nil).Save(sys)
			if err != nil {
				return fmt.Errorf("session of the token: %w", err)
			}
			return c.RefreshToken.Create().SetUserID(f.user).SetFamilyID(s.ID).
				SetTokenHash(secret.DigestOf(string(pulid.New("rtk")))).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
		}},
		"cf_sessions": {count(c.Session.Query()), func(ctx context.Context) error {
			return newSession(c, f.user, nil).Exec(ctx)
		}},
		"cf_signing_keys": {count(c.SigningKey.Query()), func(ctx context.Context) error {
			k, err := newSigningKey(c)
			if err != nil {
				return err
			}
			return k.Exec(ctx)
		}},
		"cf_activities": {count(c.Activity.Query()), func(ctx context.Context) error {
			return c.Activity.Create().SetActorType("system").SetVerb("test.ran").
				SetChain(activitylog.PlatformChain).SetSeq(1 << 40).SetPrevHash("").SetHash("").Exec(ctx)
		}},
		"cf_activity_chains": {count(c.ActivityChain.Query()), func(ctx context.Context) error {
			return c.ActivityChain.Create().SetID("test-" + string(pulid.New("org"))).Exec(ctx)
		}},
		"cf_invitations": {count(c.Invitation.Query()), func(ctx context.Context) error {
			return c.Invitation.Create().SetOrganizationID(f.org).SetEmail("i-" + strings.ToLower(string(pulid.New("inv"))[20:]) + "@example.com").
				SetTokenDigest(secret.DigestOf(string(pulid.New("inv")))).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
		}},
		"cf_user_tokens": {count(c.UserToken.Query()), func(ctx context.Context) error {
			return c.UserToken.Create().SetUserID(f.user).SetPurpose("password_reset").SetEmail("one@example.com").
				SetTokenDigest(secret.DigestOf(string(pulid.New("utk")))).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
		}},
		"cf_preferences": {count(c.Preference.Query()), func(ctx context.Context) error {
			return c.Preference.Create().SetScope("user").SetUserID(f.user).SetKey("k." + strings.ToLower(string(pulid.New("prf"))[20:])).SetValue(json.RawMessage(`1`)).Exec(ctx)
		}},
	}
}

// systemOnly are the tables that only the system reads and writes through
// the client: a superadmin is refused like any other actor.
var systemOnly = map[string]bool{"cf_signing_keys": true, "cf_user_tokens": true, "cf_activity_chains": true}

// trailOnly are the tables no actor, the system included, writes through
// the client: package trail writes them (see package bypass).
var trailOnly = map[string]bool{"cf_activities": true}

// newSession returns the create of a session of user u, active in org (nil
// for none), valid for an hour.
func newSession(c *ent.Client, u pulid.ID, org *pulid.ID) *ent.SessionCreate {
	now := time.Now()
	return c.Session.Create().SetUserID(u).SetNillableOrganizationID(org).
		SetLastUsedAt(now).SetIdleExpiresAt(now.Add(time.Hour)).SetExpiresAt(now.Add(time.Hour))
}

// newSigningKey returns the create of a signing key with a fresh Ed25519
// key pair, its private key sealed with a test master key.
func newSigningKey(c *ent.Client) (*ent.SigningKeyCreate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	sealer, err := secret.NewSealer(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	id := pulid.New("sgk")
	box, err := sealer.Seal(priv.Seed(), string(id))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return c.SigningKey.Create().SetID(id).SetPublicKey([]byte(pub)).SetPrivateKey(box), nil
}

// as returns a context acting as a, with its grants loaded.
func as(t *testing.T, c *ent.Client, a *actor.Actor) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), c, a)
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", a, err)
	}
	return ctx
}

type fixture struct {
	user, user2, org pulid.ID
}

func setup(t *testing.T, c *ent.Client) fixture {
	t.Helper()
	ctx := actor.NewContext(context.Background(), actor.System("test"))
	u := c.User.Create().SetEmail("one@example.com").SetStatus(user.StatusActive).SetPlatformRole(user.PlatformRoleSuperadmin).SaveX(ctx)
	u2 := c.User.Create().SetEmail("two@example.com").SetStatus(user.StatusActive).SaveX(ctx)
	o := c.Organization.Create().SetName("Acme").SetSlug("acme").SaveX(ctx)
	return fixture{user: u.ID, user2: u2.ID, org: o.ID}
}

func TestEveryEntityHasAPolicy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		f := setup(t, c)
		ops := entityOps(c, f)
		for _, tbl := range migrate.Tables {
			if tbl.Name == "cf_membership_roles" || tbl.Name == "cf_invitation_roles" {
				continue // join tables of Membership.roles and Invitation.roles
			}
			if _, ok := ops[tbl.Name]; !ok {
				t.Errorf("table %s has no case here: add one, and a policy for its entity", tbl.Name)
			}
		}
		bg := context.Background()
		notLoaded := actor.NewContext(bg, actor.User(f.user, actor.PlatformSuperadmin))
		super := as(t, c, actor.User(f.user, actor.PlatformSuperadmin))
		system := actor.NewContext(bg, actor.System("test"))
		denied := []struct {
			name string
			ctx  context.Context
		}{
			{"no actor", bg},
			{"actor whose grants were not loaded", notLoaded},
		}
		allowed := []struct {
			name string
			ctx  context.Context
		}{
			{"superadmin", super},
			{"system", system},
		}
		for table, op := range ops {
			for _, d := range denied {
				if err := op.read(d.ctx); !errors.Is(err, privacy.Deny) {
					t.Errorf("%s: read as %s = %v, want privacy.Deny", table, d.name, err)
				}
				if err := op.create(d.ctx); !errors.Is(err, privacy.Deny) {
					t.Errorf("%s: create as %s = %v, want privacy.Deny", table, d.name, err)
				}
			}
			for _, a := range allowed {
				if systemOnly[table] && a.name != "system" {
					// No superadmin rule: the system alone reaches it.
					if err := op.read(a.ctx); !errors.Is(err, privacy.Deny) {
						t.Errorf("%s: read as %s = %v, want privacy.Deny (system only)", table, a.name, err)
					}
					if err := op.create(a.ctx); !errors.Is(err, privacy.Deny) {
						t.Errorf("%s: create as %s = %v, want privacy.Deny (system only)", table, a.name, err)
					}
					continue
				}
				if err := op.read(a.ctx); err != nil {
					t.Errorf("%s: read as %s = %v", table, a.name, err)
				}
				if trailOnly[table] {
					if err := op.create(a.ctx); !errors.Is(err, privacy.Deny) {
						t.Errorf("%s: create as %s = %v, want privacy.Deny (the trail writes it)", table, a.name, err)
					}
					continue
				}
				if err := op.create(a.ctx); err != nil {
					t.Errorf("%s: create as %s = %v", table, a.name, err)
				}
			}
		}
	})
}

func TestActivityIsAppendOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		f := setup(t, c)
		for _, ctx := range []context.Context{
			actor.NewContext(context.Background(), actor.System("test")),
			as(t, c, actor.User(f.user, actor.PlatformSuperadmin)),
		} {
			id := recordActivity(t, ctx, c, trail.Event{Verb: "test.ran", Actor: actor.System("test")})
			a := c.Activity.GetX(actor.NewContext(ctx, actor.System("test")), id)
			if err := c.Activity.UpdateOne(a).Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("update = %v, want privacy.Deny", err)
			}
			if err := c.Activity.DeleteOne(a).Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("delete = %v, want privacy.Deny", err)
			}
			if _, err := c.Activity.Delete().Exec(ctx); !errors.Is(err, privacy.Deny) {
				t.Errorf("bulk delete = %v, want privacy.Deny", err)
			}
		}
	})
}

func TestTypedErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("test"))
		f := setup(t, c)
		tests := []struct {
			name  string
			do    func() error
			check func(error) bool
			want  string
		}{
			{"malformed email", func() error { return c.User.Create().SetEmail("not an email").Exec(ctx) }, ent.IsValidationError, "validation"},
			{"email with display name", func() error { return c.User.Create().SetEmail("Bob <bob@example.com>").Exec(ctx) }, ent.IsValidationError, "validation"},
			{"duplicate email, other case", func() error { return c.User.Create().SetEmail(" ONE@Example.com ").Exec(ctx) }, ent.IsConstraintError, "constraint"},
			{"malformed slug", func() error { return c.Organization.Create().SetName("x").SetSlug("-bad-").Exec(ctx) }, ent.IsValidationError, "validation"},
			{"duplicate slug", func() error { return c.Organization.Create().SetName("x").SetSlug("ACME").Exec(ctx) }, ent.IsConstraintError, "constraint"},
			{"duplicate membership", func() error {
				if err := c.Membership.Create().SetUserID(f.user).SetOrganizationID(f.org).Exec(ctx); err != nil {
					return fmt.Errorf("first membership: %w", err)
				}
				return c.Membership.Create().SetUserID(f.user).SetOrganizationID(f.org).Exec(ctx)
			}, ent.IsConstraintError, "constraint"},
			{"unknown user id", func() error {
				return c.Membership.Create().SetUserID(pulid.New("usr")).SetOrganizationID(f.org).Exec(ctx)
			}, ent.IsConstraintError, "constraint"},
			{"id of the wrong type", func() error {
				return c.User.Create().SetID(pulid.New("org")).SetEmail("x@example.com").Exec(ctx)
			}, ent.IsValidationError, "validation"},
			{"bad permission string", func() error {
				return c.Role.Create().SetKey("custom").SetName("C").SetOrganizationID(f.org).SetPermissions([]string{"everything"}).Exec(ctx)
			}, ent.IsValidationError, "validation"},
			{"unknown id update", func() error { return c.User.UpdateOneID(pulid.New("usr")).SetLocale("de").Exec(ctx) }, ent.IsNotFound, "not found"},
			{"preference scope without owner", func() error {
				return c.Preference.Create().SetScope("organization").SetKey("theme").SetValue(json.RawMessage(`"dark"`)).Exec(ctx)
			}, func(err error) bool { return errors.Is(err, validation.ErrInvalid) }, "validation.Error"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.do(); !tt.check(err) {
					t.Fatalf("got %v (%T), want a %s error", err, err, tt.want)
				}
			})
		}
		// Nothing half-written: still exactly the two fixture users and one org.
		if n := c.User.Query().CountX(ctx); n != 2 {
			t.Errorf("users = %d, want 2", n)
		}
		if n := c.Organization.Query().CountX(ctx); n != 1 {
			t.Errorf("organizations = %d, want 1", n)
		}
	})
}

func TestSoftDelete(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, raw := testdb.Migrated(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("test"))
		f := setup(t, c)
		// The platform keeps an active superadmin (account's guard): give
		// it another one before the fixture's (f.user) goes.
		c.User.Create().SetEmail("keeper@example.com").SetPlatformRole(user.PlatformRoleSuperadmin).SetStatus(user.StatusActive).ExecX(ctx)
		if err := c.User.DeleteOneID(f.user).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.User.Get(ctx, f.user); !ent.IsNotFound(err) {
			t.Fatalf("Get after delete = %v, want not found", err)
		}
		u, err := c.User.Get(softdelete.IncludeDeleted(ctx), f.user)
		if err != nil || u.DeletedAt == nil {
			t.Fatalf("IncludeDeleted Get = %v, %v; want the row with deleted_at", u, err)
		}
		// The email of a deleted user is free again.
		if err := c.User.Create().SetEmail("one@example.com").Exec(ctx); err != nil {
			t.Fatalf("re-using a deleted user's email: %v", err)
		}
		if err := c.User.DeleteOneID(f.user).Exec(ctx); !ent.IsNotFound(err) {
			t.Fatalf("deleting a deleted user = %v, want not found", err)
		}
		if err := c.Organization.DeleteOneID(f.org).Exec(softdelete.Purge(ctx)); err != nil {
			t.Fatalf("purge: %v", err)
		}
		var n int
		// The rows before the delete, the keeper included.
		if err := raw.QueryRow("SELECT COUNT(*) FROM cf_users").Scan(&n); err != nil || n != 4 {
			t.Fatalf("cf_users rows = %d, %v; want 4 (soft-deleted row kept)", n, err)
		}
		if err := raw.QueryRow("SELECT COUNT(*) FROM cf_organizations").Scan(&n); err != nil || n != 0 {
			t.Fatalf("cf_organizations rows = %d, %v; want 0 after purge", n, err)
		}
	})
}

func TestPreferenceKeysAndVersions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("test"))
		f := setup(t, c)
		p := c.Preference.Create().SetScope("organization").SetOrganizationID(f.org).SetKey("UI.Theme").SetValue(json.RawMessage(`"dark"`)).SaveX(ctx)
		if p.Key != "ui.theme" || p.Version != 1 {
			t.Fatalf("key, version = %q, %d; want ui.theme, 1", p.Key, p.Version)
		}
		for want := 2; want <= 3; want++ {
			p = c.Preference.UpdateOne(p).SetValue(json.RawMessage(fmt.Sprintf(`%d`, want))).SaveX(ctx)
			if p.Version != want {
				t.Fatalf("version = %d, want %d", p.Version, want)
			}
		}
		err := c.Preference.Create().SetScope("organization").SetOrganizationID(f.org).SetKey("ui.THEME").SetValue(json.RawMessage(`1`)).Exec(ctx)
		if !ent.IsConstraintError(err) {
			t.Fatalf("same key in other case = %v, want constraint error", err)
		}
	})
}

func TestSecretsAreNotStoredInPlaintext(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, raw := testdb.Migrated(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("test"))
		res, err := bootstrap.Superadmin(context.Background(), c, "root@example.com", "Root")
		if err != nil {
			t.Fatal(err)
		}
		secretPart := res.Key[strings.LastIndexByte(res.Key, '_')+1:]
		var prefix string
		var hash []byte
		if err := raw.QueryRow("SELECT prefix, secret_hash FROM cf_api_keys").Scan(&prefix, &hash); err != nil {
			t.Fatal(err)
		}
		if len(hash) != 32 || bytes.Contains(hash, []byte(secretPart)) || strings.Contains(res.Key, string(hash)) {
			t.Fatalf("secret_hash holds %d bytes that look like the key", len(hash))
		}
		if !strings.Contains(res.Key, "_"+prefix+"_") {
			t.Fatalf("prefix %q is not the public part of the key", prefix)
		}

		pw, err := secret.HashPassword("correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		c.User.UpdateOneID(res.UserID).SetPasswordHash(pw).ExecX(ctx)
		var stored string
		if err := raw.QueryRow("SELECT password_hash FROM cf_users").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "correct horse") {
			t.Fatalf("password_hash = %q", stored)
		}
		u := c.User.GetX(ctx, res.UserID)
		if !u.PasswordHash.Verify("correct horse battery") || strings.Contains(fmt.Sprint(u), "argon2") {
			t.Fatalf("password hash not verifiable, or printed: %v", u)
		}

		sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		box, err := sealer.Seal([]byte("gho_plaintexttoken"), "github:42")
		if err != nil {
			t.Fatal(err)
		}
		c.OAuthAccount.Create().SetUserID(res.UserID).SetProvider("github").SetProviderUserID("42").SetAccessToken(box).ExecX(ctx)
		var sealed []byte
		if err := raw.QueryRow("SELECT access_token FROM cf_oauth_accounts").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if len(sealed) == 0 || bytes.Contains(sealed, []byte("plaintexttoken")) {
			t.Fatalf("access_token column holds the plaintext")
		}
		acc := c.OAuthAccount.Query().OnlyX(ctx)
		if got, err := sealer.Open(acc.AccessToken, "github:42"); err != nil || string(got) != "gho_plaintexttoken" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
}

func TestBootstrapAndAPIKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		pending := c.User.Create().SetEmail("boss@example.com").SaveX(sys)
		res, err := bootstrap.Superadmin(context.Background(), c, "BOSS@example.com", "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Created || res.UserID != pending.ID {
			t.Fatalf("bootstrap created a user instead of promoting %s: %+v", pending.ID, res)
		}
		u := c.User.GetX(sys, pending.ID)
		if u.PlatformRole != user.PlatformRoleSuperadmin || u.Status != user.StatusActive {
			t.Fatalf("user = %s/%s, want superadmin/active", u.PlatformRole, u.Status)
		}
		acts := c.Activity.Query().Where(activity.ActorLabel("bootstrap")).Order(activity.ByVerb()).AllX(sys)
		var got []string
		for _, a := range acts {
			got = append(got, a.Verb+"/"+a.Channel+"/"+a.ObjectID)
		}
		want := []string{"api_key.created/cli/" + string(res.KeyID), "user.updated/cli/" + string(pending.ID)}
		if !slices.Equal(got, want) {
			t.Fatalf("bootstrap activities = %v, want %v", got, want)
		}
		now := time.Now()
		a, err := apikey.Authenticate(context.Background(), c, res.Key, now)
		if err != nil || !a.IsSuperadmin() || a.UserID() != u.ID {
			t.Fatalf("Authenticate = %v, %v", a, err)
		}
		res2, err := bootstrap.Superadmin(context.Background(), c, "boss@example.com", "")
		if err != nil || res2.Key == res.Key {
			t.Fatalf("second bootstrap = %v, %v", res2, err)
		}
		past := now.Add(-time.Minute)
		c.APIKey.UpdateOneID(res2.KeyID).SetExpiresAt(past).ExecX(sys)
		c.APIKey.UpdateOneID(res.KeyID).SetRevokedAt(past).ExecX(sys)
		bad := res.Key[:len(res.Key)-1] + "a"
		if bad == res.Key {
			bad = res.Key[:len(res.Key)-1] + "b"
		}
		tests := []struct {
			name, key string
			want      error
		}{
			{"revoked", res.Key, apikey.ErrRevoked},
			{"expired", res2.Key, apikey.ErrExpired},
			{"wrong secret", bad, apikey.ErrUnknown},
			{"malformed", "hello", apikey.ErrMalformed},
		}
		for _, tt := range tests {
			if _, err := apikey.Authenticate(context.Background(), c, tt.key, now); !errors.Is(err, tt.want) {
				t.Errorf("%s: Authenticate = %v, want %v", tt.name, err, tt.want)
			}
		}
	})
}

func TestBuiltinRolesHaveFixedIDs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("test"))
		for _, b := range permission.Builtins {
			r, err := c.Role.Get(ctx, b.ID)
			if err != nil {
				t.Fatalf("built-in role %s: %v", b.Key, err)
			}
			if r.Key != b.Key || r.Level != b.Level || !r.System || r.OrganizationID != nil || len(r.Permissions) != len(b.Permissions) {
				t.Errorf("role %s = %+v, want %+v", b.ID, r, b)
			}
		}
	})
}

func TestEveryWriteIsRecorded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		f := setup(t, c)
		super := as(t, c, actor.User(f.user, actor.PlatformSuperadmin))
		before := c.Activity.Query().CountX(sys)
		key, k, err := apikey.Create(super, c, apikey.Params{Name: "k", OwnerID: f.user, Scopes: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name  string
			do    func() error
			verbs []string // activities the step must add, in order
		}{
			{"create", func() error {
				return c.Membership.Create().SetUserID(f.user).SetOrganizationID(f.org).Exec(super)
			}, []string{"membership.created"}},
			{"update", func() error { return c.User.UpdateOneID(f.user).SetLocale("de").Exec(super) }, []string{"user.updated"}},
			{"bulk update", func() error {
				_, err := c.User.Update().Where(user.StatusEQ(user.StatusActive)).SetTimezone("Europe/Berlin").Save(super)
				return err
			}, []string{"user.updated", "user.updated"}},
			{"soft delete", func() error { return c.User.DeleteOneID(f.user2).Exec(super) }, []string{"user.deleted"}},
			{"failed write", func() error {
				if err := c.User.Create().SetEmail("bad").Exec(super); err == nil {
					return errors.New("bad email accepted")
				}
				return nil
			}, nil},
			{"authentication touches last_used_at only", func() error {
				_, err := apikey.Authenticate(context.Background(), c, key, time.Now())
				return err
			}, nil},
		}
		seen := before + 1 // the key creation
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			acts := c.Activity.Query().Order(activity.ByCreatedAt(), activity.ByID()).Offset(seen).AllX(sys)
			var verbs []string
			for _, a := range acts {
				verbs = append(verbs, a.Verb)
				if a.ActorType != activity.ActorTypeUser || a.ActorUserID == nil || *a.ActorUserID != f.user || a.Channel != "client" {
					t.Errorf("%s: activity %s has actor %s/%v channel %q", s.name, a.Verb, a.ActorType, a.ActorUserID, a.Channel)
				}
			}
			if !slices.Equal(verbs, s.verbs) {
				t.Errorf("%s: recorded %v, want %v", s.name, verbs, s.verbs)
			}
			seen += len(acts)
		}
		keyAct := c.Activity.Query().Where(activity.ObjectID(string(k.ID))).OnlyX(sys)
		if keyAct.Verb != "api_key.created" || keyAct.ObjectType != "APIKey" {
			t.Errorf("key activity = %s %s", keyAct.Verb, keyAct.ObjectType)
		}
		mem := c.Activity.Query().Where(activity.Verb("membership.created")).OnlyX(sys)
		if mem.OrganizationID == nil || *mem.OrganizationID != f.org {
			t.Errorf("membership activity organization = %v, want %s", mem.OrganizationID, f.org)
		}
	})
}
