-- Create index "cf_users_email_key" to table: "cf_users"
CREATE UNIQUE INDEX "cf_users_email_key" ON "cf_users" ("email");
