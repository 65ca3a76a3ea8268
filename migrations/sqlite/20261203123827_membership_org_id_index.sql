-- Create index "cf_memberships_organization_id" to table: "cf_memberships"
CREATE INDEX `cf_memberships_organization_id` ON `cf_memberships` (`organization_id`, `id`);
