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
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

// Invitation asks the owner of an email address to join an organization
// with roles. Its token is single-use and stored as a digest only; the
// invitee proves control of the address by presenting it (package
// invitation).
type Invitation struct{ ent.Schema }

// Mixin of the Invitation.
func (Invitation) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("inv"), timeMixin{}, auditMixin{}}
}

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	noInput := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.String("email").
			MaxLen(254).
			Validate(validateEmail).
			Immutable().
			Comment("The invited address, stored lower-case.").
			Annotations(entgql.OrderField("EMAIL")),
		field.Enum("status").
			Values("pending", "accepted", "revoked", "expired").
			Default("pending").
			Comment("A pending invitation past expires_at reads as expired.").
			Annotations(entgql.OrderField("STATUS"), noInput),
		field.Bytes("token_digest").GoType(secret.Digest{}).Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("expires_at").
			Annotations(entgql.OrderField("EXPIRES_AT"), noInput),
		field.String("message").Default("").MaxLen(1000).
			Comment("The inviter's note, sent with the invitation."),
		field.String("inviter_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("accepted_by_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable(),
		field.Time("accepted_at").Optional().Nillable().Annotations(noInput),
		field.Time("revoked_at").Optional().Nillable().Annotations(noInput),
		field.Int("sent_count").Default(1).NonNegative().
			Comment("How many times the invitation was sent (resendInvitation adds one).").
			Annotations(noInput),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("invitations").Field("organization_id").Unique().Required().Immutable(),
		edge.To("roles", Role.Type).
			StorageKey(edge.Table("cf_invitation_roles"), edge.Columns("invitation_id", "role_id")),
		edge.To("inviter", User.Type).
			Unique().Field("inviter_id").Immutable(),
		edge.To("accepted_by", User.Type).
			Unique().Field("accepted_by_id"),
	}
}

// Indexes of the Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "status", "created_at").StorageKey("cf_invitations_organization_status"),
		index.Fields("organization_id", "email").Unique().StorageKey("cf_invitations_pending_email").
			Annotations(entsql.IndexWhere("status = 'pending'")),
		index.Fields("token_digest").Unique().StorageKey("cf_invitations_token"),
		index.Fields("email").StorageKey("cf_invitations_email"),
		index.Fields("status", "expires_at").StorageKey("cf_invitations_expiry"),
	}
}

// Hooks of the Invitation.
func (Invitation) Hooks() []ent.Hook {
	return []ent.Hook{lowerHook("email"), rule.InvitationGuard()}
}

// Policy of the Invitation.
func (Invitation) Policy() ent.Policy { return rule.Invitation() }

// Annotations of the Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{entsqlTable("cf_invitations"), entgql.RelayConnection(), entgql.MultiOrder()}
}
