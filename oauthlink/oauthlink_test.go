package oauthlink_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/oauthaccount"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/oauthlink"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

// env is a migrated database, a session Manager over it (master key key)
// and a Linker over the Manager's sealer.
type env struct {
	db  testdb.Target
	c   *ent.Client
	sql *sql.DB
	key []byte
	m   *session.Manager
	l   *oauthlink.Linker
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// manager opens a session Manager over c with master key current and the
// previous keys.
func manager(t testing.TB, c *ent.Client, current []byte, previous ...[]byte) *session.Manager {
	t.Helper()
	cfg := session.DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = current
	cfg.PreviousMasterKeys = previous
	m, err := session.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	return m
}

func linker(t testing.TB, c *ent.Client, s *secret.Sealer) *oauthlink.Linker {
	t.Helper()
	l, err := oauthlink.New(c, s)
	if err != nil {
		t.Fatalf("oauthlink.New: %v", err)
	}
	return l
}

func newEnv(t testing.TB, db testdb.Target) *env {
	t.Helper()
	c, sqlDB := testdb.Migrated(t, db)
	key := randomKey(t)
	m := manager(t, c, key)
	return &env{db: db, c: c, sql: sqlDB, key: key, m: m, l: linker(t, c, m.Sealer())}
}

// user creates an active user, with a password unless pw is "".
func (e *env) user(t testing.TB, email, pw string, opts ...func(*ent.UserCreate)) *ent.User {
	t.Helper()
	q := e.c.User.Create().SetEmail(email).SetStatus(user.StatusActive)
	if pw != "" {
		h, err := secret.HashPasswordWith(pw, secret.MinArgon2)
		if err != nil {
			t.Fatal(err)
		}
		q.SetPasswordHash(h)
	}
	for _, o := range opts {
		o(q)
	}
	u, err := q.Save(sys())
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	return u
}

// as returns a context acting as a, with its grants loaded.
func (e *env) as(t testing.TB, a *actor.Actor) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, a)
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", a, err)
	}
	return ctx
}

func (e *env) asUser(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	return e.as(t, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
}

// link links u to the provider account as u and fails t otherwise.
func (e *env) link(t testing.TB, u *ent.User, provider, puid, access, refresh string) *ent.OAuthAccount {
	t.Helper()
	acc, err := e.l.Link(e.asUser(t, u), e.c, oauthlink.LinkInput{
		UserID: u.ID, Provider: provider, ProviderUserID: puid, AccessToken: access, RefreshToken: refresh,
	})
	if err != nil {
		t.Fatalf("Link(%s, %s/%s): %v", u.Email, provider, puid, err)
	}
	return acc
}

func (e *env) accountsOf(t testing.TB, uid pulid.ID) []*ent.OAuthAccount {
	t.Helper()
	return e.c.OAuthAccount.Query().Where(oauthaccount.UserID(uid)).Order(ent.Asc(oauthaccount.FieldID)).AllX(sys())
}

func (e *env) activities(t testing.TB, verb string, object pulid.ID) []*ent.Activity {
	t.Helper()
	return e.c.Activity.Query().Where(activity.Verb(verb), activity.ObjectID(string(object))).AllX(sys())
}

// ph is the n-th placeholder of the dialect.
func (e *env) ph(n int) string {
	if e.db.Dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// rawTokens reads the stored token columns of account id, under no policy.
func (e *env) rawTokens(t testing.TB, id pulid.ID) (access, refresh []byte) {
	t.Helper()
	err := e.sql.QueryRowContext(context.Background(),
		`SELECT access_token, refresh_token FROM cf_oauth_accounts WHERE id = `+e.ph(1), string(id)).Scan(&access, &refresh)
	if err != nil {
		t.Fatalf("reading the token columns of %s: %v", id, err)
	}
	return access, refresh
}

// encodings returns b as the texts a column might hold it in.
func encodings(b []byte) [][]byte {
	out := [][]byte{b}
	for _, s := range []string{
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	} {
		out = append(out, []byte(s))
	}
	return out
}

// org creates an organization owned by owner with members (the member
// role) and an admin (the admin role).
func (e *env) org(t testing.TB, slug string, owner, admin *ent.User, members ...*ent.User) *ent.Organization {
	t.Helper()
	o, err := tenancy.CreateOrganization(e.asUser(t, owner), e.c, ent.CreateOrganizationInput{Name: slug, Slug: slug})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	add := func(u *ent.User, roles ...pulid.ID) {
		if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: o.ID, UserID: u.ID, RoleIDs: roles}); err != nil {
			t.Fatalf("AddMember(%s): %v", u.Email, err)
		}
	}
	if admin != nil {
		add(admin, permission.AdminRoleID)
	}
	for _, m := range members {
		add(m)
	}
	return o
}

const (
	accessPlain  = "gho_access-token-PLAINTEXT-0123456789abcdef"
	refreshPlain = "ghr_refresh-token-PLAINTEXT-fedcba9876543210"
)

func TestNew(t *testing.T) {
	if _, err := oauthlink.New(nil, nil); err == nil {
		t.Fatal("New without a sealer: nil error")
	}
}

// Linking as the user stores the tokens sealed and hands them back, opened,
// to the owner.
func TestLink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "")
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		ctx := e.asUser(t, ada)
		acc, err := e.l.Link(ctx, e.c, oauthlink.LinkInput{
			UserID: ada.ID, Provider: " github ", ProviderUserID: " 4242 ", ProviderEmail: " Ada@Users.GitHub.example ",
			AccessToken: accessPlain, RefreshToken: refreshPlain, ExpiresAt: &exp, Scopes: []string{"repo", "user:email"},
		})
		if err != nil {
			t.Fatalf("Link: %v", err)
		}
		if acc.ID.Prefix() != "oac" || acc.UserID != ada.ID || acc.Provider != "github" || acc.ProviderUserID != "4242" ||
			acc.ProviderEmail != "ada@users.github.example" || !slices.Equal(acc.Scopes, []string{"repo", "user:email"}) {
			t.Errorf("account %+v", acc)
		}

		access, refresh := e.rawTokens(t, acc.ID)
		if len(access) == 0 || len(refresh) == 0 {
			t.Fatalf("stored token columns of %d and %d bytes, want both set", len(access), len(refresh))
		}
		for col, stored := range map[string][]byte{"access_token": access, "refresh_token": refresh} {
			for _, plain := range []string{accessPlain, refreshPlain, "PLAINTEXT"} {
				for _, enc := range encodings([]byte(plain)) {
					if bytes.Contains(stored, enc) {
						t.Errorf("column %s holds the plaintext %q (as %q)", col, plain, enc)
					}
				}
			}
		}
		var sealed secret.Sealed
		if err := sealed.Scan(access); err != nil || sealed.KeyID() != e.m.Sealer().KeyID() {
			t.Errorf("the access token is not sealed under the master key (key %q, want %q): %v", sealed.KeyID(), e.m.Sealer().KeyID(), err)
		}

		tok, err := e.l.Tokens(ctx, e.c, acc.ID)
		if err != nil {
			t.Fatalf("Tokens as the owner: %v", err)
		}
		if tok.AccessToken != accessPlain || tok.RefreshToken != refreshPlain || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(exp) ||
			!slices.Equal(tok.Scopes, []string{"repo", "user:email"}) {
			t.Errorf("Tokens = %+v, want the plaintexts, expiry and scopes", tok)
		}
		// The ent client never shows the sealed values as text.
		row := e.c.OAuthAccount.GetX(ctx, acc.ID)
		if s := fmt.Sprint(row.AccessToken, row.RefreshToken); s != "<redacted> <redacted>" {
			t.Errorf("the sealed tokens print as %q", s)
		}

		acts := e.activities(t, "oauth_account.linked", acc.ID)
		if len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != ada.ID || acts[0].Data["provider"] != "github" || acts[0].Data["user"] != string(ada.ID) {
			t.Errorf("oauth_account.linked = %+v, want one by ada", acts)
		}
		if n := len(e.activities(t, "oauth_account.created", acc.ID)); n != 0 {
			t.Errorf("%d generic oauth_account.created activities besides oauth_account.linked", n)
		}

		// No tokens: nothing stored, nothing opened.
		bare := e.link(t, ada, "gitlab", "1", "", "")
		if a, r := e.rawTokens(t, bare.ID); len(a) != 0 || len(r) != 0 {
			t.Errorf("empty tokens stored as %d and %d bytes", len(a), len(r))
		}
		if tok, err := e.l.Tokens(ctx, e.c, bare.ID); err != nil || tok.AccessToken != "" || tok.RefreshToken != "" {
			t.Errorf("Tokens of an account without tokens: %+v, %v", tok, err)
		}
	})
}

// A sealed token is bound to its row and column: moved elsewhere it does
// not open.
func TestTokensBoundToRow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "pw-not-checked")
		one := e.link(t, ada, "github", "1", accessPlain, refreshPlain)
		two := e.link(t, ada, "google", "2", "other-access", "other-refresh")
		access, refresh := e.rawTokens(t, one.ID)
		for _, tt := range []struct {
			name    string
			query   string
			args    []any
			account pulid.ID
		}{
			{"access token of another row", `UPDATE cf_oauth_accounts SET access_token = ` + e.ph(1) + ` WHERE id = ` + e.ph(2), []any{access, string(two.ID)}, two.ID},
			{"refresh token in the access column", `UPDATE cf_oauth_accounts SET access_token = ` + e.ph(1) + ` WHERE id = ` + e.ph(2), []any{refresh, string(one.ID)}, one.ID},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := e.sql.ExecContext(context.Background(), tt.query, tt.args...); err != nil {
					t.Fatal(err)
				}
				if tok, err := e.l.Tokens(sys(), e.c, tt.account); err == nil || !errors.Is(err, secret.ErrOpen) {
					t.Errorf("Tokens of a moved sealed value: %+v, %v; want an error matching secret.ErrOpen", tok, err)
				}
			})
		}
	})
}

// Only the owner and the system open the tokens; everyone else who can
// see the account gets ErrNotOwner, and those who cannot see it, not found.
func TestTokensReaders(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "")
		owner := e.user(t, "olga@example.com", "")
		admin := e.user(t, "adam@example.com", "")
		colleague := e.user(t, "carl@example.com", "")
		stranger := e.user(t, "sam@example.com", "")
		super := e.user(t, "root@example.com", "", func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleSuperadmin) })
		e.org(t, "acme", owner, admin, ada, colleague)
		acc := e.link(t, ada, "github", "4242", accessPlain, refreshPlain)

		isNotOwner := func(err error) bool { return errors.Is(err, oauthlink.ErrNotOwner) && errors.Is(err, privacy.Deny) }
		for _, tt := range []struct {
			name string
			ctx  context.Context
			ok   bool
			want func(error) bool
		}{
			{"the owner", e.asUser(t, ada), true, nil},
			{"the owner's personal key with every scope", e.as(t, actor.APIKey(pulid.New("key"), ada.ID, actor.PlatformNone, "", []string{actor.ScopeAll})), true, nil},
			{"the system", sys(), true, nil},
			{"the owner's personal key with oauth_account:read only", e.as(t, actor.APIKey(pulid.New("key"), ada.ID, actor.PlatformNone, "", []string{permission.OAuthAccountRead})), false, isNotOwner},
			{"an admin of the owner's organization", e.asUser(t, admin), false, isNotOwner},
			{"the owner of the owner's organization", e.asUser(t, owner), false, isNotOwner},
			{"a platform superadmin", e.asUser(t, super), false, isNotOwner},
			{"the owner, impersonated by a superadmin", e.as(t, actor.UserSession(ada.ID, actor.PlatformNone, pulid.New("ses")).ImpersonatedBy(super.ID)), false,
				func(err error) bool { return errors.Is(err, authz.ErrImpersonated) }},
			{"a colleague (plain member)", e.asUser(t, colleague), false, ent.IsNotFound},
			{"a stranger", e.asUser(t, stranger), false, ent.IsNotFound},
			{"nobody", context.Background(), false, func(err error) bool { return errors.Is(err, privacy.Deny) }},
			{"a user whose grants are not loaded", actor.NewContext(context.Background(), actor.User(ada.ID, actor.PlatformNone)), false,
				func(err error) bool { return errors.Is(err, privacy.Deny) }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tok, err := e.l.Tokens(tt.ctx, e.c, acc.ID)
				if tt.ok {
					if err != nil || tok.AccessToken != accessPlain || tok.RefreshToken != refreshPlain {
						t.Fatalf("Tokens: %+v, %v; want the plaintexts", tok, err)
					}
					return
				}
				if tok != nil || err == nil || !tt.want(err) {
					t.Fatalf("Tokens: %+v, %v; want it refused", tok, err)
				}
				if strings.Contains(err.Error(), "PLAINTEXT") {
					t.Errorf("the refusal holds a token: %v", err)
				}
			})
		}
	})
}

// A provider account belongs to one user: linking it for another is
// ErrLinkedElsewhere and leaves the first link as it was.
func TestLinkElsewhere(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "")
		bob := e.user(t, "bob@example.com", "")
		acc := e.link(t, ada, "github", "4242", accessPlain, refreshPlain)
		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"as bob", e.asUser(t, bob)},
			{"as the system", sys()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := e.l.Link(tt.ctx, e.c, oauthlink.LinkInput{UserID: bob.ID, Provider: "github", ProviderUserID: "4242", AccessToken: "bob-access"})
				if !errors.Is(err, oauthlink.ErrLinkedElsewhere) || got != nil {
					t.Fatalf("Link: %v, %v; want ErrLinkedElsewhere", got, err)
				}
			})
		}
		if n := len(e.accountsOf(t, bob.ID)); n != 0 {
			t.Errorf("bob has %d accounts, want 0", n)
		}
		tok, err := e.l.Tokens(sys(), e.c, acc.ID)
		if err != nil || tok.AccessToken != accessPlain || tok.RefreshToken != refreshPlain {
			t.Errorf("ada's tokens after refused links: %+v, %v", tok, err)
		}
		// The same provider user ID at another provider is another account.
		e.link(t, bob, "gitlab", "4242", "bob-access", "")
	})
}

// Linking an account linked to the same user already replaces its tokens,
// email, expiry and scopes, in the same row.
func TestRelink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "")
		ctx := e.asUser(t, ada)
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		first, err := e.l.Link(ctx, e.c, oauthlink.LinkInput{UserID: ada.ID, Provider: "github", ProviderUserID: "4242",
			ProviderEmail: "old@example.com", AccessToken: accessPlain, RefreshToken: refreshPlain, ExpiresAt: &exp, Scopes: []string{"repo"}})
		if err != nil {
			t.Fatal(err)
		}
		oldAccess, _ := e.rawTokens(t, first.ID)

		again, err := e.l.Link(ctx, e.c, oauthlink.LinkInput{UserID: ada.ID, Provider: "github", ProviderUserID: "4242",
			ProviderEmail: "New@Example.com", AccessToken: "gho_second-access"})
		if err != nil {
			t.Fatalf("relink: %v", err)
		}
		if again.ID != first.ID || again.ProviderEmail != "new@example.com" || again.TokenExpiresAt != nil || len(again.Scopes) != 0 {
			t.Errorf("relinked account %+v, want the same row with the new email, no expiry, no scopes", again)
		}
		if n := len(e.accountsOf(t, ada.ID)); n != 1 {
			t.Errorf("%d accounts, want 1", n)
		}
		tok, err := e.l.Tokens(ctx, e.c, first.ID)
		if err != nil || tok.AccessToken != "gho_second-access" || tok.RefreshToken != "" || tok.ExpiresAt != nil {
			t.Errorf("Tokens after relink: %+v, %v; want the new access token and no refresh token", tok, err)
		}
		newAccess, newRefresh := e.rawTokens(t, first.ID)
		if bytes.Equal(oldAccess, newAccess) || len(newRefresh) != 0 {
			t.Errorf("stored access token unchanged (%t) or refresh token kept (%d bytes)", bytes.Equal(oldAccess, newAccess), len(newRefresh))
		}
		if n := len(e.activities(t, "oauth_account.updated", first.ID)); n != 1 {
			t.Errorf("%d oauth_account.updated, want 1", n)
		}
		if n := len(e.activities(t, "oauth_account.linked", first.ID)); n != 1 {
			t.Errorf("%d oauth_account.linked, want 1", n)
		}
	})
}

// Links refused: malformed input, and actors that are not the user.
func TestLinkRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ada := e.user(t, "ada@example.com", "")
		owner := e.user(t, "olga@example.com", "")
		admin := e.user(t, "adam@example.com", "")
		super := e.user(t, "root@example.com", "", func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleSuperadmin) })
		e.org(t, "acme", owner, admin, ada)
		good := oauthlink.LinkInput{UserID: ada.ID, Provider: "github", ProviderUserID: "4242", AccessToken: accessPlain}
		with := func(f func(*oauthlink.LinkInput)) oauthlink.LinkInput { in := good; f(&in); return in }
		invalid := func(field string) func(error) bool {
			return func(err error) bool {
				var ve *validation.Error
				return errors.As(err, &ve) && ve.Field == field
			}
		}
		isDeny := func(err error) bool { return errors.Is(err, privacy.Deny) }
		for _, tt := range []struct {
			name string
			ctx  context.Context
			in   oauthlink.LinkInput
			want func(error) bool
		}{
			{"provider in capitals", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.Provider = "GitHub" }), invalid("provider")},
			{"empty provider", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.Provider = "" }), invalid("provider")},
			{"provider with a space", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.Provider = "git hub" }), invalid("provider")},
			{"provider starting with -", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.Provider = "-github" }), invalid("provider")},
			{"provider of 65 characters", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.Provider = strings.Repeat("g", 65) }), invalid("provider")},
			{"no provider user ID", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.ProviderUserID = "  " }), invalid("providerUserID")},
			{"provider user ID of 256 characters", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.ProviderUserID = strings.Repeat("1", 256) }), invalid("providerUserID")},
			{"provider email of 255 characters", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.ProviderEmail = strings.Repeat("a", 243) + "@example.com" }), invalid("providerEmail")},
			{"access token over 8 KiB", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.AccessToken = strings.Repeat("x", 8193) }), invalid("accessToken")},
			{"refresh token over 8 KiB", e.asUser(t, ada), with(func(in *oauthlink.LinkInput) { in.RefreshToken = strings.Repeat("x", 8193) }), invalid("accessToken")},
			{"another user", e.asUser(t, owner), good, isDeny},
			{"an admin of the user's organization", e.asUser(t, admin), good, isDeny},
			{"the user, impersonated by a superadmin", e.as(t, actor.UserSession(ada.ID, actor.PlatformNone, pulid.New("ses")).ImpersonatedBy(super.ID)), good,
				func(err error) bool { return errors.Is(err, authz.ErrImpersonated) && errors.Is(err, privacy.Deny) }},
			{"the user's personal key without every scope", e.as(t, actor.APIKey(pulid.New("key"), ada.ID, actor.PlatformNone, "", []string{permission.OAuthAccountRead})), good, isDeny},
			{"nobody", context.Background(), good, isDeny},
		} {
			t.Run(tt.name, func(t *testing.T) {
				acc, err := e.l.Link(tt.ctx, e.c, tt.in)
				if acc != nil || err == nil || !tt.want(err) {
					t.Fatalf("Link: %v, %v; want it refused", acc, err)
				}
				if n := e.c.OAuthAccount.Query().CountX(sys()); n != 0 {
					t.Errorf("%d accounts after a refused link, want 0", n)
				}
			})
		}
		// Bounds that pass.
		e.link(t, ada, strings.Repeat("g", 64), strings.Repeat("1", 255), strings.Repeat("x", 8192), "")
		// An impersonation cannot replace the tokens of a linked account
		// nor unlink it either.
		imp := e.as(t, actor.UserSession(ada.ID, actor.PlatformNone, pulid.New("ses")).ImpersonatedBy(super.ID))
		e.link(t, ada, "github", "4242", accessPlain, "")
		if _, err := e.l.Link(imp, e.c, with(func(in *oauthlink.LinkInput) { in.AccessToken = "stolen" })); !errors.Is(err, authz.ErrImpersonated) {
			t.Errorf("relink by an impersonation: %v, want ErrImpersonated", err)
		}
		if tok, err := e.l.Tokens(sys(), e.c, e.accountsOf(t, ada.ID)[1].ID); err != nil || tok.AccessToken != accessPlain {
			t.Errorf("tokens after a refused relink: %+v, %v", tok, err)
		}
		if err := e.l.Unlink(imp, e.c, e.accountsOf(t, ada.ID)[0].ID); !errors.Is(err, authz.ErrImpersonated) {
			t.Errorf("Unlink by an impersonation: %v, want ErrImpersonated", err)
		}
		if n := len(e.accountsOf(t, ada.ID)); n != 2 {
			t.Errorf("%d accounts after a refused unlink, want 2", n)
		}
	})
}

// Unlink keeps the user's last way in: with no password, the only link
// stays; with a password or another link, it goes.
func TestUnlink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)

		t.Run("no password, one link", func(t *testing.T) {
			u := e.user(t, "solo@example.com", "")
			acc := e.link(t, u, "github", "solo", accessPlain, "")
			if err := e.l.Unlink(e.asUser(t, u), e.c, acc.ID); !errors.Is(err, oauthlink.ErrLastSignIn) {
				t.Fatalf("Unlink: %v, want ErrLastSignIn", err)
			}
			if n := len(e.accountsOf(t, u.ID)); n != 1 {
				t.Errorf("%d accounts, want 1", n)
			}
			if n := len(e.activities(t, "oauth_account.unlinked", acc.ID)); n != 0 {
				t.Errorf("%d oauth_account.unlinked for a refusal", n)
			}
		})

		t.Run("no password, two links", func(t *testing.T) {
			u := e.user(t, "duo@example.com", "")
			one := e.link(t, u, "github", "duo", accessPlain, "")
			two := e.link(t, u, "google", "duo", accessPlain, "")
			ctx := e.asUser(t, u)
			if err := e.l.Unlink(ctx, e.c, one.ID); err != nil {
				t.Fatalf("Unlink of one of two: %v", err)
			}
			if err := e.l.Unlink(ctx, e.c, two.ID); !errors.Is(err, oauthlink.ErrLastSignIn) {
				t.Fatalf("Unlink of the last: %v, want ErrLastSignIn", err)
			}
			left := e.accountsOf(t, u.ID)
			if len(left) != 1 || left[0].ID != two.ID {
				t.Errorf("accounts left %v, want %s", left, two.ID)
			}
			acts := e.activities(t, "oauth_account.unlinked", one.ID)
			if len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID || acts[0].Data["provider"] != "github" {
				t.Errorf("oauth_account.unlinked = %+v, want one by the user", acts)
			}
		})

		t.Run("a password, one link", func(t *testing.T) {
			u := e.user(t, "pw@example.com", "a-password-that-is-not-checked")
			acc := e.link(t, u, "github", "pw", accessPlain, "")
			if err := e.l.Unlink(e.asUser(t, u), e.c, acc.ID); err != nil {
				t.Fatalf("Unlink: %v", err)
			}
			if n := len(e.accountsOf(t, u.ID)); n != 0 {
				t.Errorf("%d accounts, want 0", n)
			}
		})

		t.Run("who may unlink", func(t *testing.T) {
			u := e.user(t, "member@example.com", "a-password-that-is-not-checked")
			owner := e.user(t, "owner@example.com", "")
			admin := e.user(t, "admin@example.com", "")
			colleague := e.user(t, "colleague@example.com", "")
			stranger := e.user(t, "stranger@example.com", "")
			e.org(t, "acme", owner, admin, u, colleague)
			acc := e.link(t, u, "github", "member", accessPlain, "")
			for _, tt := range []struct {
				name string
				ctx  context.Context
				want func(error) bool
			}{
				{"a stranger", e.asUser(t, stranger), ent.IsNotFound},
				{"a plain member of the organization", e.asUser(t, colleague), ent.IsNotFound},
				{"the user's key without oauth_account:unlink", e.as(t, actor.APIKey(pulid.New("key"), u.ID, actor.PlatformNone, "", []string{permission.OAuthAccountRead})),
					func(err error) bool { return errors.Is(err, privacy.Deny) }},
				{"nobody", context.Background(), func(err error) bool { return errors.Is(err, privacy.Deny) }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					if err := e.l.Unlink(tt.ctx, e.c, acc.ID); err == nil || !tt.want(err) {
						t.Fatalf("Unlink: %v, want it refused", err)
					}
					if n := len(e.accountsOf(t, u.ID)); n != 1 {
						t.Errorf("%d accounts after a refused unlink, want 1", n)
					}
				})
			}
			// An administrator of the user's organization holds
			// oauth_account:unlink there.
			if err := e.l.Unlink(e.asUser(t, admin), e.c, acc.ID); err != nil {
				t.Fatalf("Unlink by an organization admin: %v", err)
			}
			acts := e.activities(t, "oauth_account.unlinked", acc.ID)
			if len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != admin.ID {
				t.Errorf("oauth_account.unlinked = %+v, want one by the admin", acts)
			}
		})
	})
}

// 50 unlinks at once of the two links of a user without a password: one
// goes, the other stays, so that the user keeps a way in.
func TestConcurrentUnlink(t *testing.T) {
	if !slices.Contains(testdb.Dialects(), dialect.Postgres) {
		t.Skipf("no PostgreSQL (%s not set): races need a database with concurrent writers", testdb.EnvPostgres)
	}
	const parallel = 50
	e := newEnv(t, testdb.New(t, dialect.Postgres))
	for round := range 3 {
		u := e.user(t, fmt.Sprintf("duo%d@example.com", round), "")
		ids := []pulid.ID{e.link(t, u, "github", fmt.Sprint(round), accessPlain, "").ID, e.link(t, u, "google", fmt.Sprint(round), accessPlain, "").ID}
		ctx := e.asUser(t, u)
		errs := make([]error, parallel)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range parallel {
			wg.Go(func() {
				<-start
				errs[i] = e.l.Unlink(ctx, e.c, ids[i%2])
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, oauthlink.ErrLastSignIn), ent.IsNotFound(err):
			default:
				t.Errorf("round %d, unlink %d: %v, want nil, ErrLastSignIn or not found", round, i, err)
			}
		}
		left := e.accountsOf(t, u.ID)
		if ok != 1 || len(left) != 1 {
			t.Errorf("round %d: %d unlinks succeeded and %d links are left, want 1 and 1", round, ok, len(left))
		}
	}
}

// Tokens sealed under one master key open after a rotation: with the old
// key as a previous key, then, after Reseal, with the new key alone.
func TestKeyRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		keyA, keyB := e.key, randomKey(t)
		sealerA, err := secret.NewSealer(keyA)
		if err != nil {
			t.Fatal(err)
		}
		want := map[pulid.ID]oauthlink.Tokens{}
		var ids []pulid.ID
		for i := range 5 {
			u := e.user(t, fmt.Sprintf("u%d@example.com", i), "")
			access, refresh := fmt.Sprintf("access-%d", i), ""
			if i%2 == 0 {
				refresh = fmt.Sprintf("refresh-%d", i)
			}
			acc := e.link(t, u, "github", fmt.Sprint(i), access, refresh)
			want[acc.ID] = oauthlink.Tokens{AccessToken: access, RefreshToken: refresh}
			ids = append(ids, acc.ID)
		}
		check := func(t *testing.T, l *oauthlink.Linker) {
			t.Helper()
			for id, w := range want {
				got, err := l.Tokens(sys(), e.c, id)
				if err != nil || got.AccessToken != w.AccessToken || got.RefreshToken != w.RefreshToken {
					t.Errorf("Tokens(%s) = %+v, %v; want %+v", id, got, err, w)
				}
			}
		}

		m2 := manager(t, e.c, keyB, keyA)
		check(t, linker(t, e.c, m2.Sealer()))
		onlyB, err := secret.NewSealer(keyB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := linker(t, e.c, onlyB).Tokens(sys(), e.c, ids[0]); !errors.Is(err, secret.ErrOpen) {
			t.Errorf("Tokens with key B alone before the reseal: %v, want secret.ErrOpen", err)
		}

		report, err := m2.Reseal(context.Background(), 2)
		if err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		if report.OAuthTokens != 8 || len(report.Remaining) != 0 {
			t.Errorf("Reseal report %+v, want 8 OAuth tokens and nothing remaining", report)
		}
		check(t, linker(t, e.c, onlyB))
		status, err := m2.SealedStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if status[sealerA.KeyID()] != 0 || status[session.LegacyKeyID] != 0 || status[onlyB.KeyID()] < 8 {
			t.Errorf("SealedStatus %v: want nothing under A (%s), at least 8 under B (%s)", status, sealerA.KeyID(), onlyB.KeyID())
		}
		// New links seal under B.
		u := e.user(t, "late@example.com", "")
		acc, err := linker(t, e.c, m2.Sealer()).Link(e.asUser(t, u), e.c, oauthlink.LinkInput{UserID: u.ID, Provider: "github", ProviderUserID: "late", AccessToken: "late-access"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := linker(t, e.c, onlyB).Tokens(sys(), e.c, acc.ID); err != nil || got.AccessToken != "late-access" {
			t.Errorf("a link after the rotation: %+v, %v", got, err)
		}
	})
}
