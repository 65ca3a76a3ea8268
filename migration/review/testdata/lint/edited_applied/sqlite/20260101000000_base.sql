-- Create "cf_users" table
CREATE TABLE `cf_users` (`id` varchar NOT NULL, `email` text NOT NULL, `nickname` text NULL, `locale` text NOT NULL DEFAULT ('en'), PRIMARY KEY (`id`));
-- Create "cf_organizations" table
CREATE TABLE `cf_organizations` (`id` varchar NOT NULL, `slug` text NOT NULL, `owner_id` varchar NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_organizations_cf_users_owner` FOREIGN KEY (`owner_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL);
-- Create index "cf_organizations_slug_key" (edited after it was applied)
CREATE UNIQUE INDEX `cf_organizations_slug_key` ON `cf_organizations` (`slug`);
