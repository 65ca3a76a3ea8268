// Command adminclient calls a running cf identity server the way an
// embedding service does, through the typed client of package
// github.com/cf/identity/adminapi:
//
//	adminclient -url http://127.0.0.1:8080 -key cfk_... -org org_... -user bob@example.com -invite new@example.com
//
// -url and -key default to $IDENTITY_URL and $IDENTITY_API_KEY. It asks who
// the key is (viewer), lists the members of the organization -org (the
// first organization of the key when empty) page by page, invites -invite
// to it, lists the live sessions of the member -user (an email of a member,
// or a user ID) and revokes the oldest, then bans and unbans that user. It
// prints one line per result and exits 1 on the first error, naming the
// server's error code, and 2 on a usage error.
//
// The key needs member:read and member:invite in the organization, and
// session:read, session:revoke and platform:user_manage (a platform admin's
// key, such as the one `identity bootstrap` prints) for the rest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"

	"github.com/cf/identity/adminapi"
	"github.com/cf/identity/pulid"
)

func main() {
	url := flag.String("url", os.Getenv("IDENTITY_URL"), "base URL of the server ($IDENTITY_URL)")
	key := flag.String("key", os.Getenv("IDENTITY_API_KEY"), "API key ($IDENTITY_API_KEY)")
	org := flag.String("org", "", "organization ID; the key's first organization when empty")
	invite := flag.String("invite", "", "email address to invite to the organization (required)")
	target := flag.String("user", "", "member (email) or user ID whose sessions are listed and who is banned and unbanned (required)")
	pageSize := flag.Int("page-size", 50, "members per page")
	flag.Parse()
	if *url == "" || *key == "" || *invite == "" || *target == "" {
		fmt.Fprintln(os.Stderr, "adminclient: -url, -key (or IDENTITY_URL, IDENTITY_API_KEY), -invite and -user are required")
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := run{ctx: ctx, c: adminapi.New(*url, *key, adminapi.WithUserAgent("adminclient-example"))}
	if err := r.all(pulid.ID(*org), *invite, *target, *pageSize); err != nil {
		fmt.Fprintln(os.Stderr, "adminclient:", err)
		os.Exit(1)
	}
}

type run struct {
	ctx context.Context
	c   graphql.Client
}

// fail names the step and the server's code of err.
func fail(step string, err error) error {
	if code := adminapi.Code(err); code != "" {
		return fmt.Errorf("%s: %s: %w", step, code, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

func (r run) all(org pulid.ID, invite, target string, pageSize int) error {
	v, err := adminapi.Viewer(r.ctx, r.c)
	if err != nil {
		return fail("viewer", err)
	}
	me := v.Viewer
	who := me.Kind
	if me.User != nil {
		who += " of " + me.User.Email
	}
	fmt.Printf("viewer: %s, platform role %s\n", who, me.PlatformRole)
	if org == "" {
		if len(me.Organizations) == 0 {
			return errors.New("the key belongs to no organization: pass -org")
		}
		org = me.Organizations[0].Organization.Id
	}

	// Members, page by page.
	var userID pulid.ID
	if strings.HasPrefix(target, "usr_") {
		userID = pulid.ID(target)
	}
	var after *string
	for {
		resp, err := adminapi.OrganizationMembers(r.ctx, r.c, org, &pageSize, after)
		if err != nil {
			return fail("members", err)
		}
		o := resp.Organization()
		if o == nil {
			return fmt.Errorf("members: %s is not an organization", org)
		}
		page := o.Memberships
		if after == nil {
			fmt.Printf("organization: %s (%s), %d members\n", o.Name, o.Slug, page.TotalCount)
		}
		for _, e := range page.Edges {
			m := e.Node
			var roles []string
			for _, re := range m.Roles.Edges {
				roles = append(roles, re.Node.Key)
			}
			fmt.Printf("member: %s roles=%s status=%s\n", m.User.Email, strings.Join(roles, ","), m.Status)
			if strings.EqualFold(m.User.Email, target) {
				userID = m.User.Id
			}
		}
		if !page.PageInfo.HasNextPage {
			break
		}
		after = page.PageInfo.EndCursor
	}
	if userID == "" {
		return fmt.Errorf("-user %s is not a member of %s", target, org)
	}

	inv, err := adminapi.Invite(r.ctx, r.c, org, invite, nil, nil)
	if err != nil {
		return fail("invite", err)
	}
	fmt.Printf("invited: %s status=%s expires=%s\n", inv.InviteMember.Email, inv.InviteMember.Status, inv.InviteMember.ExpiresAt.UTC().Format(time.RFC3339))

	// Live sessions of the user, the oldest revoked.
	s, err := adminapi.Sessions(r.ctx, r.c, &userID, true, nil, nil)
	if err != nil {
		return fail("sessions", err)
	}
	live := s.Sessions.Edges
	fmt.Printf("sessions: %d live of %s\n", len(live), userID)
	for _, e := range live {
		fmt.Printf("session: %s ip=%s agent=%q last used %s\n", e.Node.Id, e.Node.Ip, e.Node.UserAgent, e.Node.LastUsedAt.UTC().Format(time.RFC3339))
	}
	if n := len(live); n > 0 {
		rev, err := adminapi.RevokeSession(r.ctx, r.c, live[n-1].Node.Id)
		if err != nil {
			return fail("revoke session", err)
		}
		fmt.Printf("revoked: session %s reason=%s\n", rev.RevokeSession.Id, rev.RevokeSession.RevokedReason)
	}

	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	b, err := adminapi.Ban(r.ctx, r.c, userID, "example: abuse report", &until)
	if err != nil {
		return fail("ban", err)
	}
	fmt.Printf("banned: %s reason=%q until=%s\n", b.BanUser.Email, b.BanUser.BanReason, b.BanUser.BanExpiresAt.UTC().Format(time.RFC3339))
	u, err := adminapi.Unban(r.ctx, r.c, userID, "example: appeal granted")
	if err != nil {
		return fail("unban", err)
	}
	fmt.Printf("unbanned: %s banned=%t status=%s\n", u.UnbanUser.Email, u.UnbanUser.BannedAt != nil, u.UnbanUser.Status)
	return nil
}
