-- Add the email verification columns to "cf_users" (ADD COLUMN, not a table rebuild:
-- rebuilding cf_users would drop and recreate the table every other table refers to)
ALTER TABLE `cf_users` ADD COLUMN `email_verified` bool NOT NULL DEFAULT false;
ALTER TABLE `cf_users` ADD COLUMN `email_verified_at` datetime NULL;
-- Create "cf_invitations" table
CREATE TABLE `cf_invitations` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `status` text NOT NULL DEFAULT ('pending'), `token_digest` blob NOT NULL, `expires_at` datetime NOT NULL, `message` text NOT NULL DEFAULT (''), `accepted_at` datetime NULL, `revoked_at` datetime NULL, `sent_count` integer NOT NULL DEFAULT (1), `inviter_id` varchar NULL, `accepted_by_id` varchar NULL, `organization_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_invitations_cf_users_inviter` FOREIGN KEY (`inviter_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_invitations_cf_users_accepted_by` FOREIGN KEY (`accepted_by_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_invitations_cf_organizations_invitations` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE NO ACTION);
-- Create index "cf_invitations_organization_status" to table: "cf_invitations"
CREATE INDEX `cf_invitations_organization_status` ON `cf_invitations` (`organization_id`, `status`, `created_at`);
-- Create index "cf_invitations_pending_email" to table: "cf_invitations"
CREATE UNIQUE INDEX `cf_invitations_pending_email` ON `cf_invitations` (`organization_id`, `email`) WHERE status = 'pending';
-- Create index "cf_invitations_token" to table: "cf_invitations"
CREATE UNIQUE INDEX `cf_invitations_token` ON `cf_invitations` (`token_digest`);
-- Create index "cf_invitations_email" to table: "cf_invitations"
CREATE INDEX `cf_invitations_email` ON `cf_invitations` (`email`);
-- Create index "cf_invitations_expiry" to table: "cf_invitations"
CREATE INDEX `cf_invitations_expiry` ON `cf_invitations` (`status`, `expires_at`);
-- Create "cf_user_tokens" table
CREATE TABLE `cf_user_tokens` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `purpose` text NOT NULL, `email` text NOT NULL, `token_digest` blob NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_user_tokens_cf_users_tokens` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE CASCADE);
-- Create index "cf_user_tokens_token" to table: "cf_user_tokens"
CREATE UNIQUE INDEX `cf_user_tokens_token` ON `cf_user_tokens` (`token_digest`);
-- Create index "cf_user_tokens_user" to table: "cf_user_tokens"
CREATE INDEX `cf_user_tokens_user` ON `cf_user_tokens` (`user_id`, `purpose`, `created_at`);
-- Create index "cf_user_tokens_expires" to table: "cf_user_tokens"
CREATE INDEX `cf_user_tokens_expires` ON `cf_user_tokens` (`expires_at`);
-- Create "cf_invitation_roles" table
CREATE TABLE `cf_invitation_roles` (`invitation_id` varchar NOT NULL, `role_id` varchar NOT NULL, PRIMARY KEY (`invitation_id`, `role_id`), CONSTRAINT `cf_invitation_roles_invitation_id` FOREIGN KEY (`invitation_id`) REFERENCES `cf_invitations` (`id`) ON DELETE CASCADE, CONSTRAINT `cf_invitation_roles_role_id` FOREIGN KEY (`role_id`) REFERENCES `cf_roles` (`id`) ON DELETE CASCADE);
