package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/secret"
)

// User is a person who signs in. Users are soft-deleted.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("usr"), timeMixin{}, softDeleteMixin{}, auditMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			MaxLen(254).
			Validate(validateEmail).
			Comment("Stored lower-case; unique among users that are not deleted.").
			Annotations(entgql.OrderField("EMAIL")),
		field.Bool("email_verified").Default(false).
			Comment("Whether the user proved control of the email address (an accepted invitation or a verification link). A changed address is unverified.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("email_verified_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("first_name").Default("").MaxLen(100),
		field.String("last_name").Default("").MaxLen(100),
		field.String("display_name").Default("").MaxLen(200).
			Annotations(entgql.OrderField("DISPLAY_NAME")),
		field.String("avatar_url").Default("").MaxLen(2048),
		field.String("phone").Default("").MaxLen(32),
		field.String("locale").Default("en").MaxLen(35),
		field.String("timezone").Default("UTC").MaxLen(64),
		field.String("password_hash").
			GoType(secret.PasswordHash{}).
			Optional().
			Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("platform_role").
			Values("none", "support", "admin", "superadmin").
			Default("none").
			Comment("Granted and revoked by superadmins with grantPlatformRole and revokePlatformRole.").
			Annotations(entgql.OrderField("PLATFORM_ROLE"), entgql.Skip(entgql.SkipMutationUpdateInput)),
		field.Enum("status").
			Values("pending", "active", "suspended", "disabled", "archived").
			Default("pending").
			Comment("Lifecycle status; changes follow the graph of package account (transitionUser).").
			Annotations(entgql.OrderField("STATUS"), entgql.Skip(entgql.SkipMutationUpdateInput)),
		field.String("status_reason").Default("").MaxLen(500).
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("status_changed_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("banned_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("ban_reason").Default("").MaxLen(500).
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("ban_expires_at").Optional().Nillable().
			Comment("End of the ban; empty with banned_at set means permanent.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Int("failed_logins").Default(0).NonNegative().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("locked_until").Optional().Nillable().
			Comment("Sign-in is refused until this time after too many failed logins.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("last_login_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_LOGIN_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.JSON("metadata", map[string]any{}).Optional(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", Membership.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("oauth_accounts", OAuthAccount.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("api_keys", APIKey.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("sessions", Session.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("preferences", Preference.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("tokens", UserToken.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("email").Unique().StorageKey("cf_users_email_live").
			Annotations(entsql.IndexWhere("deleted_at IS NULL")),
		index.Fields("status", "created_at").StorageKey("cf_users_status_created"),
		index.Fields("platform_role").StorageKey("cf_users_platform_role"),
		// For the statistics: new users per day, bans and lockouts in force.
		index.Fields("created_at").StorageKey("cf_users_created"),
		index.Fields("banned_at", "ban_expires_at").StorageKey("cf_users_banned").
			Annotations(entsql.IndexWhere("banned_at IS NOT NULL")),
		index.Fields("locked_until").StorageKey("cf_users_locked").
			Annotations(entsql.IndexWhere("locked_until IS NOT NULL")),
	}
}

// Hooks of the User.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{lowerHook("email"), unverifyEmailHook(), jsonSizeHook("metadata"), rule.LifecycleGuard(), rule.SuperadminGuard()}
}

// Policy of the User.
func (User) Policy() ent.Policy { return rule.User() }

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return table("cf_users", entgql.MutationCreate(), entgql.MutationUpdate())
}
