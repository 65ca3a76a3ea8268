-- Create "cf_api_keys" table
CREATE TABLE `cf_api_keys` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `prefix` text NOT NULL, `secret_hash` blob NOT NULL, `scopes` json NOT NULL, `expires_at` datetime NULL, `last_used_at` datetime NULL, `revoked_at` datetime NULL, `organization_id` varchar NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_api_keys_cf_organizations_api_keys` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_api_keys_cf_users_api_keys` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_api_keys_prefix_key" to table: "cf_api_keys"
CREATE UNIQUE INDEX `cf_api_keys_prefix_key` ON `cf_api_keys` (`prefix`);
-- Create index "cf_api_keys_secret_hash_key" to table: "cf_api_keys"
CREATE UNIQUE INDEX `cf_api_keys_secret_hash_key` ON `cf_api_keys` (`secret_hash`);
-- Create index "cf_api_keys_organization" to table: "cf_api_keys"
CREATE INDEX `cf_api_keys_organization` ON `cf_api_keys` (`organization_id`, `created_at`);
-- Create index "cf_api_keys_user" to table: "cf_api_keys"
CREATE INDEX `cf_api_keys_user` ON `cf_api_keys` (`user_id`, `created_at`);
-- Create "cf_activities" table
CREATE TABLE `cf_activities` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `organization_id` varchar NULL, `actor_type` text NOT NULL, `actor_user_id` varchar NULL, `actor_api_key_id` varchar NULL, `actor_label` text NOT NULL DEFAULT (''), `actor_display` text NOT NULL DEFAULT (''), `impersonator_id` varchar NULL, `verb` text NOT NULL, `object_type` text NOT NULL DEFAULT (''), `object_id` text NOT NULL DEFAULT (''), `targets` json NULL, `channel` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `request_id` text NOT NULL DEFAULT (''), `data` json NULL, `chain` text NOT NULL, `seq` integer NOT NULL, `prev_hash` text NOT NULL, `hash` text NOT NULL, PRIMARY KEY (`id`));
-- Create index "cf_activities_organization_created" to table: "cf_activities"
CREATE INDEX `cf_activities_organization_created` ON `cf_activities` (`organization_id`, `created_at`, `id`);
-- Create index "cf_activities_created" to table: "cf_activities"
CREATE INDEX `cf_activities_created` ON `cf_activities` (`created_at`, `id`);
-- Create index "cf_activities_actor_created" to table: "cf_activities"
CREATE INDEX `cf_activities_actor_created` ON `cf_activities` (`actor_user_id`, `created_at`);
-- Create index "cf_activities_object" to table: "cf_activities"
CREATE INDEX `cf_activities_object` ON `cf_activities` (`object_type`, `object_id`);
-- Create index "cf_activities_chain_seq" to table: "cf_activities"
CREATE UNIQUE INDEX `cf_activities_chain_seq` ON `cf_activities` (`chain`, `seq`);
-- Create "cf_activity_chains" table
CREATE TABLE `cf_activity_chains` (`id` text NOT NULL, `seq` integer NOT NULL DEFAULT (0), `hash` text NOT NULL DEFAULT (''), `anchor_seq` integer NOT NULL DEFAULT (0), `anchor_hash` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
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
-- Create "cf_memberships" table
CREATE TABLE `cf_memberships` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `status` text NOT NULL DEFAULT ('active'), `department` text NOT NULL DEFAULT (''), `title` text NOT NULL DEFAULT (''), `joined_at` datetime NULL, `manager_id` varchar NULL, `invited_by_id` varchar NULL, `organization_id` varchar NOT NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_memberships_cf_memberships_reports` FOREIGN KEY (`manager_id`) REFERENCES `cf_memberships` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_memberships_cf_users_invited_by` FOREIGN KEY (`invited_by_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_memberships_cf_organizations_memberships` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `cf_memberships_cf_users_memberships` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_memberships_organization_user" to table: "cf_memberships"
CREATE UNIQUE INDEX `cf_memberships_organization_user` ON `cf_memberships` (`organization_id`, `user_id`);
-- Create index "cf_memberships_user" to table: "cf_memberships"
CREATE INDEX `cf_memberships_user` ON `cf_memberships` (`user_id`);
-- Create index "cf_memberships_organization_status" to table: "cf_memberships"
CREATE INDEX `cf_memberships_organization_status` ON `cf_memberships` (`organization_id`, `status`);
-- Create index "cf_memberships_manager" to table: "cf_memberships"
CREATE INDEX `cf_memberships_manager` ON `cf_memberships` (`manager_id`);
-- Create index "cf_memberships_organization_id" to table: "cf_memberships"
CREATE INDEX `cf_memberships_organization_id` ON `cf_memberships` (`organization_id`, `id`);
-- Create "cf_oauth_accounts" table
CREATE TABLE `cf_oauth_accounts` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `provider` text NOT NULL, `provider_user_id` text NOT NULL, `provider_email` text NOT NULL DEFAULT (''), `access_token` blob NULL, `refresh_token` blob NULL, `token_expires_at` datetime NULL, `scopes` json NOT NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_oauth_accounts_cf_users_oauth_accounts` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_oauth_accounts_provider_user" to table: "cf_oauth_accounts"
CREATE UNIQUE INDEX `cf_oauth_accounts_provider_user` ON `cf_oauth_accounts` (`provider`, `provider_user_id`);
-- Create index "cf_oauth_accounts_user" to table: "cf_oauth_accounts"
CREATE INDEX `cf_oauth_accounts_user` ON `cf_oauth_accounts` (`user_id`);
-- Create "cf_organizations" table
CREATE TABLE `cf_organizations` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `deleted_at` datetime NULL, `name` text NOT NULL, `slug` text NOT NULL, `plan` text NOT NULL DEFAULT ('free'), `status` text NOT NULL DEFAULT ('active'), `metadata` json NULL, `parent_id` varchar NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_organizations_cf_organizations_children` FOREIGN KEY (`parent_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL);
-- Create index "cf_organizations_slug_key" to table: "cf_organizations"
CREATE UNIQUE INDEX `cf_organizations_slug_key` ON `cf_organizations` (`slug`);
-- Create index "cf_organizations_parent" to table: "cf_organizations"
CREATE INDEX `cf_organizations_parent` ON `cf_organizations` (`parent_id`);
-- Create index "cf_organizations_status_created" to table: "cf_organizations"
CREATE INDEX `cf_organizations_status_created` ON `cf_organizations` (`status`, `created_at`);
-- Create "cf_preferences" table
CREATE TABLE `cf_preferences` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `scope` text NOT NULL, `key` text NOT NULL, `value` json NOT NULL, `version` integer NOT NULL DEFAULT (1), `organization_id` varchar NULL, `updated_by_id` varchar NULL, `user_id` varchar NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_preferences_cf_organizations_preferences` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_preferences_cf_users_updated_by` FOREIGN KEY (`updated_by_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_preferences_cf_users_preferences` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL);
-- Create index "cf_preferences_system_key" to table: "cf_preferences"
CREATE UNIQUE INDEX `cf_preferences_system_key` ON `cf_preferences` (`key`) WHERE scope = 'system';
-- Create index "cf_preferences_organization_key" to table: "cf_preferences"
CREATE UNIQUE INDEX `cf_preferences_organization_key` ON `cf_preferences` (`organization_id`, `key`) WHERE scope = 'organization';
-- Create index "cf_preferences_user_key" to table: "cf_preferences"
CREATE UNIQUE INDEX `cf_preferences_user_key` ON `cf_preferences` (`user_id`, `key`) WHERE scope = 'user';
-- Create "cf_refresh_tokens" table
CREATE TABLE `cf_refresh_tokens` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `token_hash` blob NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `revoked_at` datetime NULL, `revoked_reason` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `organization_id` varchar NULL, `parent_id` varchar NULL, `impersonator_id` varchar NULL, `family_id` varchar NOT NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_refresh_tokens_cf_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_refresh_tokens_children` FOREIGN KEY (`parent_id`) REFERENCES `cf_refresh_tokens` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_users_impersonator` FOREIGN KEY (`impersonator_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_refresh_tokens_cf_sessions_refresh_tokens` FOREIGN KEY (`family_id`) REFERENCES `cf_sessions` (`id`) ON DELETE NO ACTION, CONSTRAINT `cf_refresh_tokens_cf_users_refresh_tokens` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_refresh_tokens_token_hash_key" to table: "cf_refresh_tokens"
CREATE UNIQUE INDEX `cf_refresh_tokens_token_hash_key` ON `cf_refresh_tokens` (`token_hash`);
-- Create index "cf_refresh_tokens_user" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_user` ON `cf_refresh_tokens` (`user_id`, `created_at`);
-- Create index "cf_refresh_tokens_family" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_family` ON `cf_refresh_tokens` (`family_id`);
-- Create index "cf_refresh_tokens_expires" to table: "cf_refresh_tokens"
CREATE INDEX `cf_refresh_tokens_expires` ON `cf_refresh_tokens` (`expires_at`);
-- Create "cf_roles" table
CREATE TABLE `cf_roles` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `key` text NOT NULL, `name` text NOT NULL, `description` text NOT NULL DEFAULT (''), `permissions` json NOT NULL, `level` integer NOT NULL DEFAULT (0), `full_data_access` bool NOT NULL DEFAULT (false), `system` bool NOT NULL DEFAULT (false), `organization_id` varchar NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_roles_cf_organizations_roles` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL);
-- Create index "cf_roles_organization_key" to table: "cf_roles"
CREATE UNIQUE INDEX `cf_roles_organization_key` ON `cf_roles` (`organization_id`, `key`);
-- Create index "cf_roles_builtin_key" to table: "cf_roles"
CREATE UNIQUE INDEX `cf_roles_builtin_key` ON `cf_roles` (`key`) WHERE organization_id IS NULL;
-- Create "cf_sessions" table
CREATE TABLE `cf_sessions` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `ip` text NOT NULL DEFAULT (''), `user_agent` text NOT NULL DEFAULT (''), `last_ip` text NOT NULL DEFAULT (''), `last_used_at` datetime NOT NULL, `idle_expires_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `revoked_reason` text NOT NULL DEFAULT (''), `organization_id` varchar NULL, `impersonator_id` varchar NULL, `user_id` varchar NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `cf_sessions_cf_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `cf_organizations` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_sessions_cf_users_impersonator` FOREIGN KEY (`impersonator_id`) REFERENCES `cf_users` (`id`) ON DELETE SET NULL, CONSTRAINT `cf_sessions_cf_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `cf_users` (`id`) ON DELETE NO ACTION);
-- Create index "cf_sessions_user" to table: "cf_sessions"
CREATE INDEX `cf_sessions_user` ON `cf_sessions` (`user_id`, `created_at`);
-- Create index "cf_sessions_organization" to table: "cf_sessions"
CREATE INDEX `cf_sessions_organization` ON `cf_sessions` (`organization_id`, `created_at`);
-- Create index "cf_sessions_expires" to table: "cf_sessions"
CREATE INDEX `cf_sessions_expires` ON `cf_sessions` (`expires_at`);
-- Create "cf_signing_keys" table
CREATE TABLE `cf_signing_keys` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `algorithm` text NOT NULL DEFAULT ('EdDSA'), `public_key` blob NOT NULL, `private_key` blob NOT NULL, `verify_until` datetime NULL, PRIMARY KEY (`id`));
-- Create index "cf_signing_keys_created" to table: "cf_signing_keys"
CREATE INDEX `cf_signing_keys_created` ON `cf_signing_keys` (`created_at`);
-- Create "cf_users" table
CREATE TABLE `cf_users` (`id` varchar NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `deleted_at` datetime NULL, `email` text NOT NULL, `email_verified` bool NOT NULL DEFAULT (false), `email_verified_at` datetime NULL, `first_name` text NOT NULL DEFAULT (''), `last_name` text NOT NULL DEFAULT (''), `display_name` text NOT NULL DEFAULT (''), `avatar_url` text NOT NULL DEFAULT (''), `phone` text NOT NULL DEFAULT (''), `locale` text NOT NULL DEFAULT ('en'), `timezone` text NOT NULL DEFAULT ('UTC'), `password_hash` text NULL, `platform_role` text NOT NULL DEFAULT ('none'), `status` text NOT NULL DEFAULT ('pending'), `status_reason` text NOT NULL DEFAULT (''), `status_changed_at` datetime NULL, `banned_at` datetime NULL, `ban_reason` text NOT NULL DEFAULT (''), `ban_expires_at` datetime NULL, `failed_logins` integer NOT NULL DEFAULT (0), `locked_until` datetime NULL, `last_login_at` datetime NULL, `metadata` json NULL, PRIMARY KEY (`id`));
-- Create index "cf_users_email_live" to table: "cf_users"
CREATE UNIQUE INDEX `cf_users_email_live` ON `cf_users` (`email`) WHERE deleted_at IS NULL;
-- Create index "cf_users_status_created" to table: "cf_users"
CREATE INDEX `cf_users_status_created` ON `cf_users` (`status`, `created_at`);
-- Create index "cf_users_platform_role" to table: "cf_users"
CREATE INDEX `cf_users_platform_role` ON `cf_users` (`platform_role`);
-- Create index "cf_users_created" to table: "cf_users"
CREATE INDEX `cf_users_created` ON `cf_users` (`created_at`);
-- Create index "cf_users_banned" to table: "cf_users"
CREATE INDEX `cf_users_banned` ON `cf_users` (`banned_at`, `ban_expires_at`) WHERE banned_at IS NOT NULL;
-- Create index "cf_users_locked" to table: "cf_users"
CREATE INDEX `cf_users_locked` ON `cf_users` (`locked_until`) WHERE locked_until IS NOT NULL;
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
-- Create "cf_membership_roles" table
CREATE TABLE `cf_membership_roles` (`membership_id` varchar NOT NULL, `role_id` varchar NOT NULL, PRIMARY KEY (`membership_id`, `role_id`), CONSTRAINT `cf_membership_roles_membership_id` FOREIGN KEY (`membership_id`) REFERENCES `cf_memberships` (`id`) ON DELETE CASCADE, CONSTRAINT `cf_membership_roles_role_id` FOREIGN KEY (`role_id`) REFERENCES `cf_roles` (`id`) ON DELETE CASCADE);
