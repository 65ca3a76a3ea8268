-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- cf:allow MF103,CD101 reason: the trail keeps IDs, not foreign keys, so that no delete rewrites it; chain, seq and the hashes are filled in by the copy below
-- Create "new_cf_activities" table
CREATE TABLE `new_cf_activities` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `organization_id` varchar NULL, `actor_type` text NOT NULL, `actor_user_id` varchar NULL, `actor_api_key_id` varchar NULL, `actor_label` text NOT NULL DEFAULT (''), `actor_display` text NOT NULL DEFAULT (''), `impersonator_id` varchar NULL, `verb` text NOT NULL, `object_type` text NOT NULL DEFAULT (''), `object_id` text NOT NULL DEFAULT (''), `targets` json NULL, `channel` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `request_id` text NOT NULL DEFAULT (''), `data` json NULL, `chain` text NOT NULL, `seq` integer NOT NULL, `prev_hash` text NOT NULL, `hash` text NOT NULL, PRIMARY KEY (`id`));
-- Copy rows from old table (numbering the rows written before the chains existed in their chain, in time order, unhashed) "cf_activities" to new temporary table "new_cf_activities"
INSERT INTO `new_cf_activities` (`id`, `created_at`, `organization_id`, `actor_type`, `actor_user_id`, `actor_api_key_id`, `actor_label`, `impersonator_id`, `verb`, `object_type`, `object_id`, `channel`, `ip`, `user_agent`, `request_id`, `data`, `chain`, `seq`, `prev_hash`, `hash`) SELECT `id`, `created_at`, `organization_id`, `actor_type`, `actor_user_id`, `actor_api_key_id`, `actor_label`, `impersonator_id`, `verb`, `object_type`, `object_id`, `channel`, `ip`, `user_agent`, `request_id`, `data`, COALESCE(`organization_id`, 'platform'), row_number() OVER (PARTITION BY COALESCE(`organization_id`, 'platform') ORDER BY `created_at`, `id`), '', '' FROM `cf_activities`;
-- Drop "cf_activities" table after copying rows
DROP TABLE `cf_activities`;
-- Rename temporary table "new_cf_activities" to "cf_activities"
ALTER TABLE `new_cf_activities` RENAME TO `cf_activities`;
-- Create index "cf_activities_organization_created" to table: "cf_activities"
CREATE INDEX `cf_activities_organization_created` ON `cf_activities` (`organization_id`, `created_at`, `id`);
-- Create index "cf_activities_created" to table: "cf_activities"
CREATE INDEX `cf_activities_created` ON `cf_activities` (`created_at`, `id`);
-- Create index "cf_activities_actor_created" to table: "cf_activities"
CREATE INDEX `cf_activities_actor_created` ON `cf_activities` (`actor_user_id`, `created_at`);
-- Create index "cf_activities_object" to table: "cf_activities"
CREATE INDEX `cf_activities_object` ON `cf_activities` (`object_type`, `object_id`);
-- Create index "cf_activities_chain_seq" to table: "cf_activities"
CREATE UNIQUE INDEX `cf_activities_chain_seq` ON `cf_activities` (`chain`, `seq`);
-- Create "cf_activity_chains" table
CREATE TABLE `cf_activity_chains` (`id` text NOT NULL, `seq` integer NOT NULL DEFAULT (0), `hash` text NOT NULL DEFAULT (''), `anchor_seq` integer NOT NULL DEFAULT (0), `anchor_hash` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- Start each chain after its unhashed rows
INSERT INTO `cf_activity_chains` (`id`, `seq`, `hash`, `anchor_seq`, `anchor_hash`) SELECT `chain`, max(`seq`), '', max(`seq`), '' FROM `cf_activities` GROUP BY `chain`;
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
