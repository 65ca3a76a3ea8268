-- Add column "phone" to table: "cf_users"
ALTER TABLE "cf_users" ADD COLUMN "phone" character varying NOT NULL REFERENCES "cf_phones" ("id");
