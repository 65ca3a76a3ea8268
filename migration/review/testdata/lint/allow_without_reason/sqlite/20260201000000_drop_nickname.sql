-- cf:allow DS103
ALTER TABLE `cf_users` DROP COLUMN `nickname`;
