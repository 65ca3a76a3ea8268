-- Drop index "cf_activities_organization_created" from table: "cf_activities"
DROP INDEX "cf_activities_organization_created";
-- cf:allow CD101 reason: the trail keeps IDs, not foreign keys, so that no delete rewrites it
-- Modify "cf_activities" table
ALTER TABLE "cf_activities" DROP CONSTRAINT "cf_activities_cf_api_keys_actor_api_key", DROP CONSTRAINT "cf_activities_cf_organizations_activities", DROP CONSTRAINT "cf_activities_cf_users_actor_user", DROP CONSTRAINT "cf_activities_cf_users_impersonator", ADD COLUMN "actor_display" character varying NOT NULL DEFAULT '', ADD COLUMN "targets" jsonb NULL, ADD COLUMN "chain" character varying NOT NULL DEFAULT '', ADD COLUMN "seq" bigint NOT NULL DEFAULT 0, ADD COLUMN "prev_hash" character varying NOT NULL DEFAULT '', ADD COLUMN "hash" character varying NOT NULL DEFAULT '';
-- Number the rows written before the chains existed in their chain, in time order; they stay unhashed, before their chain's anchor
UPDATE "cf_activities" AS a SET "chain" = n."chain", "seq" = n."seq" FROM (SELECT "id", COALESCE("organization_id", 'platform') AS "chain", row_number() OVER (PARTITION BY COALESCE("organization_id", 'platform') ORDER BY "created_at", "id") AS "seq" FROM "cf_activities") AS n WHERE a."id" = n."id";
-- Modify "cf_activities" table
ALTER TABLE "cf_activities" ALTER COLUMN "chain" DROP DEFAULT, ALTER COLUMN "seq" DROP DEFAULT, ALTER COLUMN "prev_hash" DROP DEFAULT, ALTER COLUMN "hash" DROP DEFAULT;
-- Create index "cf_activities_organization_created" to table: "cf_activities"
CREATE INDEX "cf_activities_organization_created" ON "cf_activities" ("organization_id", "created_at", "id");
-- Create index "cf_activities_chain_seq" to table: "cf_activities"
CREATE UNIQUE INDEX "cf_activities_chain_seq" ON "cf_activities" ("chain", "seq");
-- Create index "cf_activities_created" to table: "cf_activities"
CREATE INDEX "cf_activities_created" ON "cf_activities" ("created_at", "id");
-- Create "cf_activity_chains" table
CREATE TABLE "cf_activity_chains" ("id" character varying NOT NULL, "seq" bigint NOT NULL DEFAULT 0, "hash" character varying NOT NULL DEFAULT '', "anchor_seq" bigint NOT NULL DEFAULT 0, "anchor_hash" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
-- Start each chain after its unhashed rows
INSERT INTO "cf_activity_chains" ("id", "seq", "hash", "anchor_seq", "anchor_hash") SELECT "chain", max("seq"), '', max("seq"), '' FROM "cf_activities" GROUP BY "chain";
