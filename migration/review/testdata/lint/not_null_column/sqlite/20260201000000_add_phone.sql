-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_cf_users" table
CREATE TABLE `new_cf_users` (`id` varchar NOT NULL, `email` text NOT NULL, `nickname` text NULL, `locale` text NOT NULL DEFAULT ('en'), `phone` text NOT NULL, PRIMARY KEY (`id`));
-- Copy rows from old table "cf_users" to new temporary table "new_cf_users"
INSERT INTO `new_cf_users` (`id`, `email`, `nickname`, `locale`) SELECT `id`, `email`, `nickname`, `locale` FROM `cf_users`;
-- Drop "cf_users" table after copying rows
DROP TABLE `cf_users`;
-- Rename temporary table "new_cf_users" to "cf_users"
ALTER TABLE `new_cf_users` RENAME TO `cf_users`;
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
