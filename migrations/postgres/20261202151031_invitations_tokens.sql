-- Modify "cf_users" table
ALTER TABLE "cf_users" ADD COLUMN "email_verified" boolean NOT NULL DEFAULT false, ADD COLUMN "email_verified_at" timestamptz NULL;
-- Create "cf_invitations" table
CREATE TABLE "cf_invitations" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'pending', "token_digest" bytea NOT NULL, "expires_at" timestamptz NOT NULL, "message" character varying NOT NULL DEFAULT '', "accepted_at" timestamptz NULL, "revoked_at" timestamptz NULL, "sent_count" bigint NOT NULL DEFAULT 1, "inviter_id" character varying(31) NULL, "accepted_by_id" character varying(31) NULL, "organization_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_invitations_cf_organizations_invitations" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "cf_invitations_cf_users_accepted_by" FOREIGN KEY ("accepted_by_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_invitations_cf_users_inviter" FOREIGN KEY ("inviter_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "cf_invitations_email" to table: "cf_invitations"
CREATE INDEX "cf_invitations_email" ON "cf_invitations" ("email");
-- Create index "cf_invitations_expiry" to table: "cf_invitations"
CREATE INDEX "cf_invitations_expiry" ON "cf_invitations" ("status", "expires_at");
-- Create index "cf_invitations_organization_status" to table: "cf_invitations"
CREATE INDEX "cf_invitations_organization_status" ON "cf_invitations" ("organization_id", "status", "created_at");
-- Create index "cf_invitations_pending_email" to table: "cf_invitations"
CREATE UNIQUE INDEX "cf_invitations_pending_email" ON "cf_invitations" ("organization_id", "email") WHERE ((status)::text = 'pending'::text);
-- Create index "cf_invitations_token" to table: "cf_invitations"
CREATE UNIQUE INDEX "cf_invitations_token" ON "cf_invitations" ("token_digest");
-- Create "cf_invitation_roles" table
CREATE TABLE "cf_invitation_roles" ("invitation_id" character varying(31) NOT NULL, "role_id" character varying(31) NOT NULL, PRIMARY KEY ("invitation_id", "role_id"), CONSTRAINT "cf_invitation_roles_invitation_id" FOREIGN KEY ("invitation_id") REFERENCES "cf_invitations" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "cf_invitation_roles_role_id" FOREIGN KEY ("role_id") REFERENCES "cf_roles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create "cf_user_tokens" table
CREATE TABLE "cf_user_tokens" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "purpose" character varying NOT NULL, "email" character varying NOT NULL, "token_digest" bytea NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_user_tokens_cf_users_tokens" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "cf_user_tokens_expires" to table: "cf_user_tokens"
CREATE INDEX "cf_user_tokens_expires" ON "cf_user_tokens" ("expires_at");
-- Create index "cf_user_tokens_token" to table: "cf_user_tokens"
CREATE UNIQUE INDEX "cf_user_tokens_token" ON "cf_user_tokens" ("token_digest");
-- Create index "cf_user_tokens_user" to table: "cf_user_tokens"
CREATE INDEX "cf_user_tokens_user" ON "cf_user_tokens" ("user_id", "purpose", "created_at");
