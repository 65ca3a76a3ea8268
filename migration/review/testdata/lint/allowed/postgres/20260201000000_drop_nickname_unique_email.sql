-- cf:allow DS103 reason: nickname is unused since v1.4 and was copied to display_name by 20260115000000
-- Modify "cf_users" table
ALTER TABLE "cf_users" DROP COLUMN "nickname";
-- cf:allow MF101 reason: emails are unique since the signup fix; checked on production with a GROUP BY on 2026-01-20
CREATE UNIQUE INDEX "cf_users_email_key" ON "cf_users" ("email");
