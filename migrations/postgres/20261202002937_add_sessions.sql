-- Create "cf_signing_keys" table
CREATE TABLE "cf_signing_keys" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "algorithm" character varying NOT NULL DEFAULT 'EdDSA', "public_key" bytea NOT NULL, "private_key" bytea NOT NULL, "verify_until" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "cf_signing_keys_created" to table: "cf_signing_keys"
CREATE INDEX "cf_signing_keys_created" ON "cf_signing_keys" ("created_at");
-- Create "cf_sessions" table
CREATE TABLE "cf_sessions" ("id" character varying(31) NOT NULL, "created_at" timestamptz NOT NULL, "ip" character varying NOT NULL DEFAULT '', "user_agent" character varying NOT NULL DEFAULT '', "last_ip" character varying NOT NULL DEFAULT '', "last_used_at" timestamptz NOT NULL, "idle_expires_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "revoked_reason" character varying NOT NULL DEFAULT '', "organization_id" character varying(31) NULL, "impersonator_id" character varying(31) NULL, "user_id" character varying(31) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_sessions_cf_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "cf_organizations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_sessions_cf_users_impersonator" FOREIGN KEY ("impersonator_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "cf_sessions_cf_users_sessions" FOREIGN KEY ("user_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "cf_sessions_expires" to table: "cf_sessions"
CREATE INDEX "cf_sessions_expires" ON "cf_sessions" ("expires_at");
-- Create index "cf_sessions_organization" to table: "cf_sessions"
CREATE INDEX "cf_sessions_organization" ON "cf_sessions" ("organization_id", "created_at");
-- Create index "cf_sessions_user" to table: "cf_sessions"
CREATE INDEX "cf_sessions_user" ON "cf_sessions" ("user_id", "created_at");
-- Refresh tokens now belong to a session (cf_sessions). No flow wrote
-- cf_refresh_tokens before sign-in existed; rows written directly through
-- the client get one revoked session per family (ses_0 + 25 hex digits of
-- the family's MD5), so that no row is lost and none can be refreshed.
INSERT INTO "cf_sessions" ("id", "created_at", "user_id", "ip", "user_agent", "last_ip", "last_used_at", "idle_expires_at", "expires_at", "revoked_at", "revoked_reason")
SELECT 'ses_0' || upper(substr(md5("family_id"), 1, 25)), min("created_at"), min("user_id"), '', '', '', max("created_at"), max("expires_at"), max("expires_at"), now(), 'migrated'
FROM "cf_refresh_tokens" GROUP BY "family_id";
UPDATE "cf_refresh_tokens" SET "family_id" = 'ses_0' || upper(substr(md5("family_id"), 1, 25)),
  "revoked_at" = COALESCE("revoked_at", now()), "revoked_reason" = CASE WHEN "revoked_at" IS NULL THEN 'migrated' ELSE "revoked_reason" END;
-- Modify "cf_refresh_tokens" table
ALTER TABLE "cf_refresh_tokens" ALTER COLUMN "family_id" TYPE character varying(31), ADD CONSTRAINT "cf_refresh_tokens_cf_sessions_refresh_tokens" FOREIGN KEY ("family_id") REFERENCES "cf_sessions" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION;
