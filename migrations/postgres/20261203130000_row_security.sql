-- Row-level security: the second tenant boundary (PostgreSQL only).
--
-- Hand-written: ent's schema diff does not see functions or policies, so
-- `migrate diff` never plans them and `migrate check`'s drift check is not
-- disturbed by them. migrations/rowsecurity_test.go compares pg_policies
-- and relforcerowsecurity of a migrated database with
-- migrations/testdata/row_security.golden.
--
-- Every policy reads settings that storage.NewClient's driver sets with
-- set_config(name, value, true) (transaction-local) from the actor on the
-- context before each statement; see storage/rowsecurity.go for their
-- names and meaning. A connection without settings sees and writes
-- nothing. Superusers and BYPASSRLS roles skip all of this: the
-- application connects as a role created by `identity db create-role`.

-- cf_rls_system reports whether the statement runs as the system actor.
CREATE FUNCTION cf_rls_system() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('cf.system', true), '') = 'on' $$;
-- cf_rls_flag reports whether setting cf.<name> is 'on'.
CREATE FUNCTION cf_rls_flag(name text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('cf.' || name, true), '') = 'on' $$;
-- cf_rls_bypass reports whether the statement is the audited bypass of package internal/bypass named reason.
CREATE FUNCTION cf_rls_bypass(reason text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('cf.bypass', true), '') = reason $$;
-- cf_rls_in reports whether the actor holds permission perm (':' written '_') in organization org: cf.o_<perm> lists the organizations; '*' is every one, and then rows of no organization too (as the Go policies' nil predicate).
CREATE FUNCTION cf_rls_in(org text, perm text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('cf.o_' || perm, true), '') = '*' OR (org IS NOT NULL AND org = ANY (string_to_array(current_setting('cf.o_' || perm, true), ','))) $$;
-- cf_rls_self reports whether uid is the acting user and the credential may use scope on its own rows (cf.s_<scope> holds the user then).
CREATE FUNCTION cf_rls_self(uid text, scope text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT uid IS NOT NULL AND uid = current_setting('cf.s_' || scope, true) $$;
-- cf_rls_active reports whether org (NULL: no organization) is within the active organization (cf.active_org; empty: every one).
CREATE FUNCTION cf_rls_active(org text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(current_setting('cf.active_org', true), '') = '' OR org IS NULL OR org = current_setting('cf.active_org', true) $$;
-- cf_rls_self_in is cf_rls_self for a row of organization org: while the actor acts in one organization, only its own rows of that one (or of none).
CREATE FUNCTION cf_rls_self_in(uid text, org text, scope text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT cf_rls_self(uid, scope) AND cf_rls_active(org) $$;
-- cf_rls_member_in reports whether user uid has a membership (any status) in an organization where the actor holds perm: the Go policies' edge predicate through memberships, which does not apply the membership policy; so neither does this (cf.rls_internal, for the duration of the call only).
CREATE FUNCTION cf_rls_member_in(uid text, perm text) RETURNS boolean LANGUAGE sql STABLE SET cf.rls_internal = 'on' AS $$ SELECT EXISTS (SELECT 1 FROM cf_memberships m WHERE m.user_id = uid AND cf_rls_in(m.organization_id, perm)) $$;
-- cf_rls_membership_org returns the organization of membership mid, whether or not the actor may read it.
CREATE FUNCTION cf_rls_membership_org(mid text) RETURNS text LANGUAGE sql STABLE SET cf.rls_internal = 'on' AS $$ SELECT organization_id FROM cf_memberships WHERE id = mid $$;

-- cf_rls_session_user, cf_rls_token_user and cf_rls_role_org return the user of session sid, the user of refresh token tid and the organization of role rid (NULL: built-in), whether or not the actor may read them.
CREATE FUNCTION cf_rls_session_user(sid text) RETURNS text LANGUAGE sql STABLE SET cf.rls_internal = 'on' AS $$ SELECT user_id FROM cf_sessions WHERE id = sid $$;
CREATE FUNCTION cf_rls_token_user(tid text) RETURNS text LANGUAGE sql STABLE SET cf.rls_internal = 'on' AS $$ SELECT user_id FROM cf_refresh_tokens WHERE id = tid $$;
CREATE FUNCTION cf_rls_role_org(rid text) RETURNS text LANGUAGE sql STABLE SET cf.rls_internal = 'on' AS $$ SELECT organization_id FROM cf_roles WHERE id = rid $$;
-- cf_rls_member_org reports whether org is one of the organizations the actor is an active member of (cf.member_orgs).
CREATE FUNCTION cf_rls_member_org(org text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT org = ANY (string_to_array(current_setting('cf.member_orgs', true), ',')) $$;
-- cf_rls_scopes_held reports whether every scope of a new personal API key is one its creator may give it (cf.key_scopes).
CREATE FUNCTION cf_rls_scopes_held(scopes jsonb) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(scopes) AS s(v) WHERE NOT s.v = ANY (string_to_array(current_setting('cf.key_scopes', true), ','))) $$;

-- cf_rls_guard refuses (42501), for an actor subject to row-level
-- security that is neither the system nor a superadmin, an update that
-- changes one of the columns named by the trigger's arguments: the columns
-- that place a row in its tenant (an argument ~column: an organization
-- column that may change to none or to an organization the actor is a
-- member of, as a session's). The update policies check the new row
-- (WITH CHECK) and let through every row the actor sees (USING is the
-- read rule, so that a row seen but not writable is refused loudly instead
-- of skipped); with these columns unchanged, the new row is writable
-- exactly when the old one was.
CREATE FUNCTION cf_rls_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c text;
BEGIN
  IF NOT row_security_active(TG_RELID) OR cf_rls_system() OR cf_rls_flag('superadmin') THEN
    RETURN NEW;
  END IF;
  FOREACH c IN ARRAY TG_ARGV LOOP
    IF left(c, 1) = '~' THEN
      -- An organization column that may change to none or to one of the actor's organizations.
      c := substr(c, 2);
      IF (to_jsonb(NEW) -> c) IS DISTINCT FROM (to_jsonb(OLD) -> c) AND NOT (to_jsonb(NEW) ->> c IS NULL OR cf_rls_member_org(to_jsonb(NEW) ->> c)) THEN
        RAISE EXCEPTION 'row-level security: %.% changes to an organization of the actor only', TG_TABLE_NAME, c USING ERRCODE = '42501';
      END IF;
    ELSIF (to_jsonb(NEW) -> c) IS DISTINCT FROM (to_jsonb(OLD) -> c) THEN
      RAISE EXCEPTION 'row-level security: %.% is not changed by this actor', TG_TABLE_NAME, c USING ERRCODE = '42501';
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;
-- cf_rls_guard_user refuses (42501), for an actor subject to row-level
-- security that is neither the system nor a superadmin, a change of a
-- user's platform role; and, unless the actor manages users (platform
-- admins, on lower ranks: the update policy), a change of anything but the
-- profile fields a user changes on its own row (the Go policy's
-- selfFields).
CREATE FUNCTION cf_rls_guard_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  profile text[] := ARRAY['first_name', 'last_name', 'display_name', 'avatar_url', 'phone', 'locale', 'timezone', 'metadata', 'updated_at'];
BEGIN
  IF NOT row_security_active(TG_RELID) OR cf_rls_system() OR cf_rls_flag('superadmin') THEN
    RETURN NEW;
  END IF;
  IF NEW.platform_role IS DISTINCT FROM OLD.platform_role THEN
    RAISE EXCEPTION 'row-level security: the platform role is granted by superadmins only' USING ERRCODE = '42501';
  END IF;
  IF NOT (cf_rls_flag('p_user_manage') AND OLD.platform_role = ANY (string_to_array(current_setting('cf.below_rank', true), ','))) AND (to_jsonb(NEW) - profile) IS DISTINCT FROM (to_jsonb(OLD) - profile) THEN
    RAISE EXCEPTION 'row-level security: a user changes only the profile of its own row' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$$;

-- cf_organizations
ALTER TABLE "cf_organizations" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_organizations_select ON "cf_organizations" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(id, 'organization_read'));
CREATE POLICY cf_organizations_insert ON "cf_organizations" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_flag('org_create') AND (parent_id IS NULL OR cf_rls_flag('p_organization_manage') OR cf_rls_in(parent_id, 'organization_update')) AND (coalesce(current_setting('cf.active_org', true), '') = '' OR parent_id = current_setting('cf.active_org', true))));
CREATE POLICY cf_organizations_update ON "cf_organizations" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(id, 'organization_read')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR ((cf_rls_in(id, 'organization_update') OR cf_rls_in(id, 'organization_delete')) AND (parent_id IS NULL OR cf_rls_in(parent_id, 'organization_update'))));
CREATE POLICY cf_organizations_delete ON "cf_organizations" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(id, 'organization_delete'));

-- cf_memberships
ALTER TABLE "cf_memberships" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_memberships_guard BEFORE UPDATE ON "cf_memberships" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('organization_id', 'user_id');
CREATE POLICY cf_memberships_select ON "cf_memberships" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('rls_internal') OR cf_rls_in(organization_id, 'member_read') OR cf_rls_self_in(user_id, organization_id, 'member_read') OR (cf_rls_bypass('creator becomes owner') AND user_id = current_setting('cf.user', true)));
CREATE POLICY cf_memberships_insert ON "cf_memberships" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_flag('p_user_manage') AND (manager_id IS NULL OR cf_rls_membership_org(manager_id) = organization_id)) OR (cf_rls_bypass('creator becomes owner') AND user_id = current_setting('cf.user', true)));
CREATE POLICY cf_memberships_update ON "cf_memberships" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('rls_internal') OR cf_rls_in(organization_id, 'member_read') OR cf_rls_self_in(user_id, organization_id, 'member_read') OR (cf_rls_bypass('creator becomes owner') AND user_id = current_setting('cf.user', true))) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR ((cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'member_update') OR cf_rls_in(organization_id, 'role_assign')) AND (manager_id IS NULL OR cf_rls_membership_org(manager_id) = organization_id)));
CREATE POLICY cf_memberships_delete ON "cf_memberships" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'member_remove') OR cf_rls_self_in(user_id, organization_id, 'member_remove'));

-- cf_membership_roles (the roles edge of memberships)
ALTER TABLE "cf_membership_roles" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_membership_roles_select ON "cf_membership_roles" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR EXISTS (SELECT 1 FROM cf_memberships m WHERE m.id = membership_id));
CREATE POLICY cf_membership_roles_insert ON "cf_membership_roles" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR ((cf_rls_flag('p_user_manage') OR cf_rls_in(cf_rls_membership_org(membership_id), 'role_assign')) AND (cf_rls_role_org(role_id) IS NULL OR cf_rls_role_org(role_id) = cf_rls_membership_org(membership_id))) OR (cf_rls_bypass('creator becomes owner') AND role_id = 'rol_00000000000000000000000001'));
CREATE POLICY cf_membership_roles_delete ON "cf_membership_roles" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('p_user_manage') OR cf_rls_in(cf_rls_membership_org(membership_id), 'role_assign'));

-- cf_roles
ALTER TABLE "cf_roles" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_roles_guard BEFORE UPDATE ON "cf_roles" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('organization_id');
CREATE POLICY cf_roles_select ON "cf_roles" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('rls_internal') OR (organization_id IS NULL AND cf_rls_flag('loaded')) OR cf_rls_in(organization_id, 'role_read'));
CREATE POLICY cf_roles_insert ON "cf_roles" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NOT NULL AND cf_rls_in(organization_id, 'role_create')));
CREATE POLICY cf_roles_update ON "cf_roles" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_flag('loaded')) OR cf_rls_in(organization_id, 'role_read')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'role_update'));
CREATE POLICY cf_roles_delete ON "cf_roles" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'role_delete'));

-- cf_users
ALTER TABLE "cf_users" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_users_guard BEFORE UPDATE ON "cf_users" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard_user();
CREATE POLICY cf_users_select ON "cf_users" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('p_read') OR cf_rls_self(id, 'user_read') OR cf_rls_member_in(id, 'user_read'));
CREATE POLICY cf_users_insert ON "cf_users" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_flag('p_user_manage') AND platform_role = 'none'));
CREATE POLICY cf_users_update ON "cf_users" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('p_read') OR cf_rls_self(id, 'user_read') OR cf_rls_member_in(id, 'user_read')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(id, 'all') OR (cf_rls_flag('p_user_manage') AND platform_role = ANY (string_to_array(current_setting('cf.below_rank', true), ','))));
CREATE POLICY cf_users_delete ON "cf_users" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_flag('p_user_manage') AND platform_role = ANY (string_to_array(current_setting('cf.below_rank', true), ','))));

-- cf_oauth_accounts
ALTER TABLE "cf_oauth_accounts" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_oauth_accounts_guard BEFORE UPDATE ON "cf_oauth_accounts" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('user_id');
CREATE POLICY cf_oauth_accounts_select ON "cf_oauth_accounts" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(user_id, 'oauth_account_read') OR cf_rls_member_in(user_id, 'oauth_account_read'));
CREATE POLICY cf_oauth_accounts_insert ON "cf_oauth_accounts" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(user_id, 'all'));
CREATE POLICY cf_oauth_accounts_update ON "cf_oauth_accounts" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(user_id, 'oauth_account_read') OR cf_rls_member_in(user_id, 'oauth_account_read')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(user_id, 'all'));
CREATE POLICY cf_oauth_accounts_delete ON "cf_oauth_accounts" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self(user_id, 'oauth_account_unlink') OR cf_rls_member_in(user_id, 'oauth_account_unlink'));

-- cf_api_keys
ALTER TABLE "cf_api_keys" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_api_keys_guard BEFORE UPDATE ON "cf_api_keys" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('organization_id', 'user_id');
CREATE POLICY cf_api_keys_select ON "cf_api_keys" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_self(user_id, 'api_key_read')) OR cf_rls_in(organization_id, 'api_key_read'));
CREATE POLICY cf_api_keys_insert ON "cf_api_keys" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_self(user_id, 'api_key_create') AND cf_rls_scopes_held(scopes)) OR (cf_rls_in(organization_id, 'api_key_create') AND user_id = current_setting('cf.user', true)));
CREATE POLICY cf_api_keys_update ON "cf_api_keys" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_self(user_id, 'api_key_read')) OR cf_rls_in(organization_id, 'api_key_read')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_self(user_id, 'api_key_revoke')) OR cf_rls_in(organization_id, 'api_key_revoke'));
CREATE POLICY cf_api_keys_delete ON "cf_api_keys" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (organization_id IS NULL AND cf_rls_self(user_id, 'api_key_revoke')) OR cf_rls_in(organization_id, 'api_key_revoke'));

-- cf_sessions (revoked, never deleted, by anyone but the system)
ALTER TABLE "cf_sessions" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_sessions_guard BEFORE UPDATE ON "cf_sessions" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('user_id', 'impersonator_id', '~organization_id');
CREATE POLICY cf_sessions_select ON "cf_sessions" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('rls_internal') OR cf_rls_self_in(user_id, organization_id, 'session_read') OR cf_rls_in(organization_id, 'session_read') OR impersonator_id = current_setting('cf.impersonator', true));
CREATE POLICY cf_sessions_insert ON "cf_sessions" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_self(user_id, 'all') AND impersonator_id IS NULL AND coalesce(current_setting('cf.impersonated_by', true), '') = '' AND cf_rls_active(organization_id) AND (organization_id IS NULL OR cf_rls_member_org(organization_id))) OR (cf_rls_flag('p_impersonate') AND impersonator_id = current_setting('cf.impersonator', true) AND user_id <> impersonator_id AND organization_id IS NULL));
CREATE POLICY cf_sessions_update ON "cf_sessions" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self_in(user_id, organization_id, 'session_read') OR cf_rls_in(organization_id, 'session_read') OR impersonator_id = current_setting('cf.impersonator', true)) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR ((cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self_in(user_id, organization_id, 'session_revoke') OR cf_rls_self_in(user_id, organization_id, 'all') OR cf_rls_in(organization_id, 'session_revoke') OR impersonator_id = current_setting('cf.impersonator', true))));
CREATE POLICY cf_sessions_delete ON "cf_sessions" FOR DELETE USING (cf_rls_system());

-- cf_refresh_tokens
ALTER TABLE "cf_refresh_tokens" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_refresh_tokens_guard BEFORE UPDATE ON "cf_refresh_tokens" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('user_id', 'impersonator_id', 'family_id', '~organization_id');
CREATE POLICY cf_refresh_tokens_select ON "cf_refresh_tokens" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_flag('rls_internal') OR cf_rls_self_in(user_id, organization_id, 'session_read') OR cf_rls_in(organization_id, 'session_read') OR impersonator_id = current_setting('cf.impersonator', true));
CREATE POLICY cf_refresh_tokens_insert ON "cf_refresh_tokens" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (cf_rls_self(user_id, 'all') AND cf_rls_active(organization_id) AND (organization_id IS NULL OR cf_rls_member_org(organization_id)) AND coalesce(impersonator_id, '') = coalesce(current_setting('cf.impersonated_by', true), '') AND cf_rls_session_user(family_id) = user_id AND (parent_id IS NULL OR cf_rls_token_user(parent_id) = user_id)));
CREATE POLICY cf_refresh_tokens_update ON "cf_refresh_tokens" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self_in(user_id, organization_id, 'session_read') OR cf_rls_in(organization_id, 'session_read') OR impersonator_id = current_setting('cf.impersonator', true)) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR ((cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self_in(user_id, organization_id, 'session_revoke') OR cf_rls_in(organization_id, 'session_revoke')) AND (parent_id IS NULL OR cf_rls_token_user(parent_id) = user_id)));
CREATE POLICY cf_refresh_tokens_delete ON "cf_refresh_tokens" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_self_in(user_id, organization_id, 'session_revoke') OR cf_rls_in(organization_id, 'session_revoke'));

-- cf_activities: append-only; written only through the audited bypasses of package trail.
ALTER TABLE "cf_activities" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_activities_guard BEFORE UPDATE ON "cf_activities" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('organization_id');
CREATE POLICY cf_activities_select ON "cf_activities" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'activity_read') OR cf_rls_self_in(actor_user_id, organization_id, 'activity_read') OR cf_rls_bypass('audit record') OR cf_rls_bypass('activity retention'));
CREATE POLICY cf_activities_insert ON "cf_activities" FOR INSERT WITH CHECK (cf_rls_bypass('audit record'));
CREATE POLICY cf_activities_update ON "cf_activities" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'activity_read') OR cf_rls_self_in(actor_user_id, organization_id, 'activity_read')) WITH CHECK (false);
CREATE POLICY cf_activities_delete ON "cf_activities" FOR DELETE USING (cf_rls_bypass('activity retention'));

-- cf_activity_chains: the heads of the hash chains, the system's only.
ALTER TABLE "cf_activity_chains" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_activity_chains_system ON "cf_activity_chains" FOR ALL USING (cf_rls_system());

-- cf_preferences
ALTER TABLE "cf_preferences" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_preferences_guard BEFORE UPDATE ON "cf_preferences" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('scope', 'organization_id', 'user_id');
CREATE POLICY cf_preferences_select ON "cf_preferences" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (scope = 'system' AND cf_rls_flag('loaded')) OR (scope = 'organization' AND cf_rls_in(organization_id, 'preference_read')) OR (scope = 'user' AND cf_rls_self(user_id, 'preference_read')));
CREATE POLICY cf_preferences_insert ON "cf_preferences" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (scope = 'organization' AND cf_rls_in(organization_id, 'preference_write')) OR (scope = 'user' AND cf_rls_self(user_id, 'preference_write')) OR (scope = 'system' AND cf_rls_flag('p_settings_manage')));
CREATE POLICY cf_preferences_update ON "cf_preferences" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (scope = 'system' AND cf_rls_flag('loaded')) OR (scope = 'organization' AND cf_rls_in(organization_id, 'preference_read')) OR (scope = 'user' AND cf_rls_self(user_id, 'preference_read'))) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR (scope = 'organization' AND cf_rls_in(organization_id, 'preference_write')) OR (scope = 'user' AND cf_rls_self(user_id, 'preference_write')) OR (scope = 'system' AND cf_rls_flag('p_settings_manage')));
CREATE POLICY cf_preferences_delete ON "cf_preferences" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR (scope = 'organization' AND cf_rls_in(organization_id, 'preference_write')) OR (scope = 'user' AND cf_rls_self(user_id, 'preference_write')) OR (scope = 'system' AND cf_rls_flag('p_settings_manage')));

-- cf_invitations: created, resent and accepted by the system (package invitation).
ALTER TABLE "cf_invitations" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE TRIGGER cf_invitations_guard BEFORE UPDATE ON "cf_invitations" FOR EACH ROW EXECUTE FUNCTION cf_rls_guard('organization_id');
CREATE POLICY cf_invitations_select ON "cf_invitations" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'member_invite'));
CREATE POLICY cf_invitations_insert ON "cf_invitations" FOR INSERT WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin'));
CREATE POLICY cf_invitations_update ON "cf_invitations" FOR UPDATE USING (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'member_invite')) WITH CHECK (cf_rls_system() OR cf_rls_flag('superadmin') OR cf_rls_in(organization_id, 'member_invite'));
CREATE POLICY cf_invitations_delete ON "cf_invitations" FOR DELETE USING (cf_rls_system() OR cf_rls_flag('superadmin'));

-- cf_invitation_roles (the roles edge of invitations)
ALTER TABLE "cf_invitation_roles" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_invitation_roles_select ON "cf_invitation_roles" FOR SELECT USING (cf_rls_system() OR cf_rls_flag('superadmin') OR EXISTS (SELECT 1 FROM cf_invitations i WHERE i.id = invitation_id));
CREATE POLICY cf_invitation_roles_write ON "cf_invitation_roles" FOR ALL USING (cf_rls_system() OR cf_rls_flag('superadmin'));

-- cf_signing_keys, cf_user_tokens: the system's only.
ALTER TABLE "cf_signing_keys" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_signing_keys_system ON "cf_signing_keys" FOR ALL USING (cf_rls_system());
ALTER TABLE "cf_user_tokens" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY cf_user_tokens_system ON "cf_user_tokens" FOR ALL USING (cf_rls_system());
