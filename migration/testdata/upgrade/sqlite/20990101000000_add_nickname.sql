-- A later version for TestUpgradeSafetyFixture: a nullable column, so the
-- upgrade runs over more than one file. Not in the ent schema on purpose.
ALTER TABLE `cf_users` ADD COLUMN `nickname` text NULL;
