-- Create "cf_activities" table
CREATE TABLE "cf_activities" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "organization_id" character varying(31) NULL, "actor_type" character varying NOT NULL, "actor_user_id" character varying(31) NULL, "actor_api_key_id" character varying(31) NULL, "actor_label" character varying NOT NULL DEFAULT '', "actor_display" character varying NOT NULL DEFAULT '', "impersonator_id" character varying(31) NULL, "verb" character varying NOT NULL, "object_type" character varying NOT NULL DEFAULT '', "object_id" character varying NOT NULL DEFAULT '', "targets" jsonb NULL, "channel" character varying NOT NULL DEFAULT '', "ip" character varying NOT NULL DEFAULT '', "user_agent" character varying NOT NULL DEFAULT '', "request_id" character varying NOT NULL DEFAULT '', "data" jsonb NULL, "chain" character varying NOT NULL, "seq" bigint NOT NULL, "prev_hash" character varying NOT NULL, "hash" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "cf_activities_actor_created" to table: "cf_activities"
CREATE INDEX "cf_activities_actor_created" ON "cf_activities" ("actor_user_id", "created_at");
-- Create index "cf_activities_chain_seq" to table: "cf_activities"
CREATE UNIQUE INDEX "cf_activities_chain_seq" ON "cf_activities" ("chain", "seq");
-- Create index "cf_activities_created" to table: "cf_activities"
CREATE INDEX "cf_activities_created" ON "cf_activities" ("created_at", "id");
-- Create index "cf_activities_object" to table: "cf_activities"
CREATE INDEX "cf_activities_object" ON "cf_activities" ("object_type", "object_id");
-- Create index "cf_activities_organization_created" to table: "cf_activities"
CREATE INDEX "cf_activities_organization_created" ON "cf_activities" ("organization_id", "created_at", "id");
-- Create "cf_activity_chains" table
CREATE TABLE "cf_activity_chains" ("id" character varying NOT NULL, "seq" bigint NOT NULL DEFAULT 0, "hash" character varying NOT NULL DEFAULT '', "anchor_seq" bigint NOT NULL DEFAULT 0, "anchor_hash" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
-- Create "cf_organizations" table
CREATE TABLE "cf_organizations" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "deleted_at" timestamptz NULL, "name" character varying NOT NULL, "slug" character varying NOT NULL, "plan" character varying NOT NULL DEFAULT 'free', "status" character varying NOT NULL DEFAULT 'active', "metadata" jsonb NULL, "parent_id" character varying(31) NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_organizations_cf_organizations_children" FOREIGN KEY ("parent_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "cf_organizations_parent" to table: "cf_organizations"
CREATE INDEX "cf_organizations_parent" ON "cf_organizations" ("parent_id");
-- Create index "cf_organizations_slug_key" to table: "cf_organizations"
CREATE UNIQUE INDEX "cf_organizations_slug_key" ON "cf_organizations" ("slug");
-- Create index "cf_organizations_status_created" to table: "cf_organizations"
CREATE INDEX "cf_organizations_status_created" ON "cf_organizations" ("status", "created_at");
-- Create "cf_signing_keys" table
CREATE TABLE "cf_signing_keys" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "algorithm" character varying NOT NULL DEFAULT 'EdDSA', "public_key" bytea NOT NULL, "private_key" bytea NOT NULL, "verify_until" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "cf_signing_keys_created" to table: "cf_signing_keys"
CREATE INDEX "cf_signing_keys_created" ON "cf_signing_keys" ("created_at");
-- Create "cf_users" table
CREATE TABLE "cf_users" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "deleted_at" timestamptz NULL, "email" character varying NOT NULL, "email_verified" boolean NOT NULL DEFAULT false, "email_verified_at" timestamptz NULL, "first_name" character varying NOT NULL DEFAULT '', "last_name" character varying NOT NULL DEFAULT '', "display_name" character varying NOT NULL DEFAULT '', "avatar_url" character varying NOT NULL DEFAULT '', "phone" character varying NOT NULL DEFAULT '', "locale" character varying NOT NULL DEFAULT 'en', "timezone" character varying NOT NULL DEFAULT 'UTC', "password_hash" character varying NULL, "platform_role" character varying NOT NULL DEFAULT 'none', "status" character varying NOT NULL DEFAULT 'pending', "status_reason" character varying NOT NULL DEFAULT '', "status_changed_at" timestamptz NULL, "banned_at" timestamptz NULL, "ban_reason" character varying NOT NULL DEFAULT '', "ban_expires_at" timestamptz NULL, "failed_logins" bigint NOT NULL DEFAULT 0, "locked_until" timestamptz NULL, "last_login_at" timestamptz NULL, "metadata" jsonb NULL, PRIMARY KEY ("id"));
-- Create index "cf_users_banned" to table: "cf_users"
CREATE INDEX "cf_users_banned" ON "cf_users" ("banned_at", "ban_expires_at") WHERE (banned_at IS NOT NULL);
-- Create index "cf_users_created" to table: "cf_users"
CREATE INDEX "cf_users_created" ON "cf_users" ("created_at");
-- Create index "cf_users_email_live" to table: "cf_users"
CREATE UNIQUE INDEX "cf_users_email_live" ON "cf_users" ("email") WHERE (deleted_at IS NULL);
-- Create index "cf_users_locked" to table: "cf_users"
CREATE INDEX "cf_users_locked" ON "cf_users" ("locked_until") WHERE (locked_until IS NOT NULL);
-- Create index "cf_users_platform_role" to table: "cf_users"
CREATE INDEX "cf_users_platform_role" ON "cf_users" ("platform_role");
-- Create index "cf_users_status_created" to table: "cf_users"
CREATE INDEX "cf_users_status_created" ON "cf_users" ("status", "created_at");
-- Create "cf_api_keys" table
CREATE TABLE "cf_api_keys" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "prefix" character varying NOT NULL, "secret_hash" bytea NOT NULL, "scopes" jsonb NOT NULL, "expires_at" timestamptz NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "organization_id" character varying(31) NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_api_keys_cf_organizations_api_keys" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_api_keys_cf_users_api_keys" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_api_keys_organization" to table: "cf_api_keys"
CREATE INDEX "cf_api_keys_organization" ON "cf_api_keys" ("organization_id", "created_at");
-- Create index "cf_api_keys_prefix_key" to table: "cf_api_keys"
CREATE UNIQUE INDEX "cf_api_keys_prefix_key" ON "cf_api_keys" ("prefix");
-- Create index "cf_api_keys_secret_hash_key" to table: "cf_api_keys"
CREATE UNIQUE INDEX "cf_api_keys_secret_hash_key" ON "cf_api_keys" ("secret_hash");
-- Create index "cf_api_keys_user" to table: "cf_api_keys"
CREATE INDEX "cf_api_keys_user" ON "cf_api_keys" ("user_id", "created_at");
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
-- Create "cf_roles" table
CREATE TABLE "cf_roles" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "key" character varying NOT NULL, "name" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "permissions" jsonb NOT NULL, "level" bigint NOT NULL DEFAULT 0, "full_data_access" boolean NOT NULL DEFAULT false, "system" boolean NOT NULL DEFAULT false, "organization_id" character varying(31) NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_roles_cf_organizations_roles" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "cf_roles_builtin_key" to table: "cf_roles"
CREATE UNIQUE INDEX "cf_roles_builtin_key" ON "cf_roles" ("key") WHERE (organization_id IS NULL);
-- Create index "cf_roles_organization_key" to table: "cf_roles"
CREATE UNIQUE INDEX "cf_roles_organization_key" ON "cf_roles" ("organization_id", "key");
-- Create "cf_invitation_roles" table
CREATE TABLE "cf_invitation_roles" ("invitation_id" character varying(31) NOT NULL, "role_id" character varying(31) NOT NULL, PRIMARY KEY ("invitation_id", "role_id"), CONSTRAINT "cf_invitation_roles_invitation_id" FOREIGN KEY ("invitation_id") REFERENCES "cf_invitations" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "cf_invitation_roles_role_id" FOREIGN KEY ("role_id") REFERENCES "cf_roles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create "cf_memberships" table
CREATE TABLE "cf_memberships" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "status" character varying NOT NULL DEFAULT 'active', "department" character varying NOT NULL DEFAULT '', "title" character varying NOT NULL DEFAULT '', "joined_at" timestamptz NULL, "manager_id" character varying(31) NULL, "invited_by_id" character varying(31) NULL, "organization_id" character varying(31) NOT NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_memberships_cf_memberships_reports" FOREIGN KEY ("manager_id") REFERENCES "cf_memberships" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_memberships_cf_organizations_memberships" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "cf_memberships_cf_users_invited_by" FOREIGN KEY ("invited_by_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_memberships_cf_users_memberships" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_memberships_manager" to table: "cf_memberships"
CREATE INDEX "cf_memberships_manager" ON "cf_memberships" ("manager_id");
-- Create index "cf_memberships_organization_id" to table: "cf_memberships"
CREATE INDEX "cf_memberships_organization_id" ON "cf_memberships" ("organization_id", "id");
-- Create index "cf_memberships_organization_status" to table: "cf_memberships"
CREATE INDEX "cf_memberships_organization_status" ON "cf_memberships" ("organization_id", "status");
-- Create index "cf_memberships_organization_user" to table: "cf_memberships"
CREATE UNIQUE INDEX "cf_memberships_organization_user" ON "cf_memberships" ("organization_id", "user_id");
-- Create index "cf_memberships_user" to table: "cf_memberships"
CREATE INDEX "cf_memberships_user" ON "cf_memberships" ("user_id");
-- Create "cf_membership_roles" table
CREATE TABLE "cf_membership_roles" ("membership_id" character varying(31) NOT NULL, "role_id" character varying(31) NOT NULL, PRIMARY KEY ("membership_id", "role_id"), CONSTRAINT "cf_membership_roles_membership_id" FOREIGN KEY ("membership_id") REFERENCES "cf_memberships" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "cf_membership_roles_role_id" FOREIGN KEY ("role_id") REFERENCES "cf_roles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create "cf_oauth_accounts" table
CREATE TABLE "cf_oauth_accounts" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "provider_user_id" character varying NOT NULL, "provider_email" character varying NOT NULL DEFAULT '', "access_token" bytea NULL, "refresh_token" bytea NULL, "token_expires_at" timestamptz NULL, "scopes" jsonb NOT NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_oauth_accounts_cf_users_oauth_accounts" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_oauth_accounts_provider_user" to table: "cf_oauth_accounts"
CREATE UNIQUE INDEX "cf_oauth_accounts_provider_user" ON "cf_oauth_accounts" ("provider", "provider_user_id");
-- Create index "cf_oauth_accounts_user" to table: "cf_oauth_accounts"
CREATE INDEX "cf_oauth_accounts_user" ON "cf_oauth_accounts" ("user_id");
-- Create "cf_preferences" table
CREATE TABLE "cf_preferences" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "scope" character varying NOT NULL, "key" character varying NOT NULL, "value" jsonb NOT NULL, "version" bigint NOT NULL DEFAULT 1, "organization_id" character varying(31) NULL, "updated_by_id" character varying(31) NULL, "user_id" character varying(31) NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_preferences_cf_organizations_preferences" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_preferences_cf_users_preferences" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_preferences_cf_users_updated_by" FOREIGN KEY ("updated_by_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "cf_preferences_organization_key" to table: "cf_preferences"
CREATE UNIQUE INDEX "cf_preferences_organization_key" ON "cf_preferences" ("organization_id", "key") WHERE ((scope)::text = 'organization'::text);
-- Create index "cf_preferences_system_key" to table: "cf_preferences"
CREATE UNIQUE INDEX "cf_preferences_system_key" ON "cf_preferences" ("key") WHERE ((scope)::text = 'system'::text);
-- Create index "cf_preferences_user_key" to table: "cf_preferences"
CREATE UNIQUE INDEX "cf_preferences_user_key" ON "cf_preferences" ("user_id", "key") WHERE ((scope)::text = 'user'::text);
-- Create "cf_sessions" table
CREATE TABLE "cf_sessions" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "ip" character varying NOT NULL DEFAULT '', "user_agent" character varying NOT NULL DEFAULT '', "last_ip" character varying NOT NULL DEFAULT '', "last_used_at" timestamptz NOT NULL, "idle_expires_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "revoked_reason" character varying NOT NULL DEFAULT '', "organization_id" character varying(31) NULL, "impersonator_id" character varying(31) NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_sessions_cf_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_sessions_cf_users_impersonator" FOREIGN KEY ("impersonator_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_sessions_cf_users_sessions" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_sessions_expires" to table: "cf_sessions"
CREATE INDEX "cf_sessions_expires" ON "cf_sessions" ("expires_at");
-- Create index "cf_sessions_organization" to table: "cf_sessions"
CREATE INDEX "cf_sessions_organization" ON "cf_sessions" ("organization_id", "created_at");
-- Create index "cf_sessions_user" to table: "cf_sessions"
CREATE INDEX "cf_sessions_user" ON "cf_sessions" ("user_id", "created_at");
-- Create "cf_refresh_tokens" table
CREATE TABLE "cf_refresh_tokens" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "token_hash" bytea NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "revoked_reason" character varying NOT NULL DEFAULT '', "ip" character varying NOT NULL DEFAULT '', "user_agent" character varying NOT NULL DEFAULT '', "organization_id" character varying(31) NULL, "parent_id" character varying(31) NULL, "impersonator_id" character varying(31) NULL, "family_id" character varying(31) NOT NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_refresh_tokens_cf_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_refresh_tokens_cf_refresh_tokens_children" FOREIGN KEY ("parent_id") REFERENCES "cf_refresh_tokens" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_refresh_tokens_cf_sessions_refresh_tokens" FOREIGN KEY ("family_id") REFERENCES "cf_sessions" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "cf_refresh_tokens_cf_users_impersonator" FOREIGN KEY ("impersonator_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_refresh_tokens_cf_users_refresh_tokens" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_refresh_tokens_expires" to table: "cf_refresh_tokens"
CREATE INDEX "cf_refresh_tokens_expires" ON "cf_refresh_tokens" ("expires_at");
-- Create index "cf_refresh_tokens_family" to table: "cf_refresh_tokens"
CREATE INDEX "cf_refresh_tokens_family" ON "cf_refresh_tokens" ("family_id");
-- Create index "cf_refresh_tokens_token_hash_key" to table: "cf_refresh_tokens"
CREATE UNIQUE INDEX "cf_refresh_tokens_token_hash_key" ON "cf_refresh_tokens" ("token_hash");
-- Create index "cf_refresh_tokens_user" to table: "cf_refresh_tokens"
CREATE INDEX "cf_refresh_tokens_user" ON "cf_refresh_tokens" ("user_id", "created_at");
-- Create "cf_user_tokens" table
CREATE TABLE "cf_user_tokens" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "purpose" character varying NOT NULL, "email" character varying NOT NULL, "token_digest" bytea NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_user_tokens_cf_users_tokens" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "cf_user_tokens_expires" to table: "cf_user_tokens"
CREATE INDEX "cf_user_tokens_expires" ON "cf_user_tokens" ("expires_at");
-- Create index "cf_user_tokens_token" to table: "cf_user_tokens"
CREATE UNIQUE INDEX "cf_user_tokens_token" ON "cf_user_tokens" ("token_digest");
-- Create index "cf_user_tokens_user" to table: "cf_user_tokens"
CREATE INDEX "cf_user_tokens_user" ON "cf_user_tokens" ("user_id", "purpose", "created_at");
