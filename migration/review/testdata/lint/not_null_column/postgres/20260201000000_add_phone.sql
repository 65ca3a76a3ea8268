-- Modify "cf_users" table
ALTER TABLE "cf_users" ADD COLUMN "phone" character varying NOT NULL;
