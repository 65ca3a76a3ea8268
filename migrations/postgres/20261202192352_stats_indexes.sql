-- Create index "cf_users_banned" to table: "cf_users"
CREATE INDEX "cf_users_banned" ON "cf_users" ("banned_at", "ban_expires_at") WHERE (banned_at IS NOT NULL);
-- Create index "cf_users_created" to table: "cf_users"
CREATE INDEX "cf_users_created" ON "cf_users" ("created_at");
-- Create index "cf_users_locked" to table: "cf_users"
CREATE INDEX "cf_users_locked" ON "cf_users" ("locked_until") WHERE (locked_until IS NOT NULL);
