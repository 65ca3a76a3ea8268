-- Add column "phone" to table: "cf_users"
ALTER TABLE `cf_users` ADD COLUMN `phone` text NULL;
-- Create index "cf_phones_number" to table: "cf_phones"
CREATE INDEX `cf_phones_number` ON `cf_phones` (`number`);
