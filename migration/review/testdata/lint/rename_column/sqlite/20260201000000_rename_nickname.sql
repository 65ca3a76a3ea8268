-- Rename a column from "nickname" to "handle"
ALTER TABLE `cf_users` RENAME COLUMN `nickname` TO `handle`;
