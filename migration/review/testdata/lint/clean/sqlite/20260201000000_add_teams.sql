-- Add column "display_name" to table: "cf_users"
ALTER TABLE `cf_users` ADD COLUMN `display_name` text NOT NULL DEFAULT ('');
-- Create index "cf_users_email" to table: "cf_users"
CREATE INDEX `cf_users_email` ON `cf_users` (`email`);
-- Create "cf_teams" table
CREATE TABLE `cf_teams` (`id` varchar NOT NULL, `name` text NOT NULL, `organization_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_teams_cf_organizations_teams` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE CASCADE);
-- Create index "cf_teams_organization_name" to table: "cf_teams"
CREATE UNIQUE INDEX `cf_teams_organization_name` ON `cf_teams` (`organization_id`, `name`);
