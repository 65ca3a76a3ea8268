-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- cf:allow DS103 reason: nickname is unused since v1.4 and was copied to display_name by 20260115000000
-- Create "new_cf_users" table
CREATE TABLE `new_cf_users` (`id` varchar NOT NULL, `email` text NOT NULL, `locale` text NOT NULL DEFAULT ('en'), PRIMARY KEY (`id`));
-- Copy rows from old table "cf_users" to new temporary table "new_cf_users"
INSERT INTO `new_cf_users` (`id`, `email`, `locale`) SELECT `id`, `email`, `locale` FROM `cf_users`;
-- Drop "cf_users" table after copying rows
DROP TABLE `cf_users`;
-- Rename temporary table "new_cf_users" to "cf_users"
ALTER TABLE `new_cf_users` RENAME TO `cf_users`;
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
-- cf:allow MF101 reason: emails are unique since the signup fix; checked on production with a GROUP BY on 2026-01-20
CREATE UNIQUE INDEX `cf_users_email_key` ON `cf_users` (`email`);
