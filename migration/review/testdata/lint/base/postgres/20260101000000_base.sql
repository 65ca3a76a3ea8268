-- Create "cf_users" table
CREATE TABLE "cf_users" ("id" character varying(31) NOT NULL, "email" character varying NOT NULL, "nickname" character varying NULL, "locale" character varying NOT NULL DEFAULT 'en', PRIMARY KEY ("id"));
-- Create "cf_organizations" table
CREATE TABLE "cf_organizations" ("id" character varying(31) NOT NULL, "slug" character varying NOT NULL, "owner_id" character varying(31) NULL, PRIMARY KEY ("id"), CONSTRAINT "cf_organizations_cf_users_owner" FOREIGN KEY ("owner_id") REFERENCES "cf_users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "cf_organizations_slug_key" to table: "cf_organizations"
CREATE UNIQUE INDEX "cf_organizations_slug_key" ON "cf_organizations" ("slug");
