-- Modify "cf_users" table
ALTER TABLE "cf_users" DROP COLUMN "nickname";
