-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Refresh tokens now belong to a session (cf_sessions). No flow wrote
-- cf_refresh_tokens before sign-in existed; rows written directly through
-- the client get one revoked session per family (created below), so that
-- no row is lost and none can be refreshed.
CREATE TEMP TABLE `cf_family_sessions` AS SELECT `family_id` AS `family`, 'ses_0' || substr(hex(randomblob(16)), 1, 25) AS `session` FROM (SELECT DISTINCT `family_id` FROM `cf_refresh_tokens`);
-- Create "new_cf_refresh_tokens" table
CREATE TABLE `new_cf_refresh_tokens` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `token_hash` blob NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `revoked_at` datetime NULL, `revoked_reason` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `organization_id` varchar NULL, `parent_id` varchar NULL, `impersonator_id` varchar NULL, `family_id` varchar NOT NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_refresh_tokens_cf_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_refresh_tokens_children` FOREIGN KEY (`parent_id`) REFERENCES `cf_refresh_tokens` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_users_impersonator` FOREIGN KEY (`impersonator_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_sessions_refresh_tokens` FOREIGN KEY (`family_id`) REFERENCES `cf_sessions` (`id`) ON DELETE NO ACTION, CONSTRAINT `cf_refresh_tokens_cf_users_refresh_tokens` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Copy rows from old table "cf_refresh_tokens" to new temporary table "new_cf_refresh_tokens"
INSERT INTO `new_cf_refresh_tokens` (`id`, `created_at`, `token_hash`, `expires_at`, `used_at`, `revoked_at`, `revoked_reason`, `ip`, `user_agent`, `organization_id`, `parent_id`, `impersonator_id`, `family_id`, `user_id`) SELECT `id`, `created_at`, `token_hash`, `expires_at`, `used_at`, `revoked_at`, `revoked_reason`, `ip`, `user_agent`, `organization_id`, `parent_id`, `impersonator_id`, COALESCE((SELECT `session` FROM `cf_family_sessions` WHERE `family` = `family_id`), `family_id`), `user_id` FROM `cf_refresh_tokens`;
-- Drop "cf_refresh_tokens" table after copying rows
DROP TABLE `cf_refresh_tokens`;
-- Rename temporary table "new_cf_refresh_tokens" to "cf_refresh_tokens"
ALTER TABLE `new_cf_refresh_tokens` RENAME TO `cf_refresh_tokens`;
-- Create index "cf_refresh_tokens_token_hash_key" to table: "cf_refresh_tokens"
CREATE UNIQUE INDEX `cf_refresh_tokens_token_hash_key` ON `cf_refresh_tokens` (`token_hash`);
-- Create index "cf_refresh_tokens_user" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_user` ON `cf_refresh_tokens` (`user_id`, `created_at`);
-- Create index "cf_refresh_tokens_family" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_family` ON `cf_refresh_tokens` (`family_id`);
-- Create index "cf_refresh_tokens_expires" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_expires` ON `cf_refresh_tokens` (`expires_at`);
-- Create "cf_sessions" table
CREATE TABLE `cf_sessions` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `last_ip` text NOT NULL DEFAULT (''), `last_used_at` datetime NOT NULL, `idle_expires_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `revoked_reason` text NOT NULL DEFAULT (''), `organization_id` varchar NULL, `impersonator_id` varchar NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_sessions_cf_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_sessions_cf_users_impersonator` FOREIGN KEY (`impersonator_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_sessions_cf_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_sessions_user" to table: "cf_sessions"
CREATE INDEX `cf_sessions_user` ON `cf_sessions` (`user_id`, `created_at`);
-- Create index "cf_sessions_organization" to table: "cf_sessions"
CREATE INDEX `cf_sessions_organization` ON `cf_sessions` (`organization_id`, `created_at`);
-- Create index "cf_sessions_expires" to table: "cf_sessions"
CREATE INDEX `cf_sessions_expires` ON `cf_sessions` (`expires_at`);
-- The revoked sessions of the refresh tokens that existed before.
INSERT INTO `cf_sessions` (`id`, `created_at`, `user_id`, `ip`, `user_agent`, `last_ip`, `last_used_at`, `idle_expires_at`, `expires_at`, `revoked_at`, `revoked_reason`)
SELECT f.`session`, min(t.`created_at`), min(t.`user_id`), '', '', '', max(t.`created_at`), max(t.`expires_at`), max(t.`expires_at`), CURRENT_TIMESTAMP, 'migrated'
FROM `cf_family_sessions` f JOIN `cf_refresh_tokens` t ON t.`family_id` = f.`session` GROUP BY f.`session`;
UPDATE `cf_refresh_tokens` SET `revoked_at` = CURRENT_TIMESTAMP, `revoked_reason` = 'migrated'
WHERE `revoked_at` IS NULL AND `family_id` IN (SELECT `session` FROM `cf_family_sessions`);
DROP TABLE `cf_family_sessions`;
-- Create "cf_signing_keys" table
CREATE TABLE `cf_signing_keys` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `algorithm` text NOT NULL DEFAULT ('EdDSA'), `public_key` blob NOT NULL, `private_key` blob NOT NULL, `verify_until` datetime NULL, PRIMARY KEY (`id`));
-- Create index "cf_signing_keys_created" to table: "cf_signing_keys"
CREATE INDEX `cf_signing_keys_created` ON `cf_signing_keys` (`created_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
