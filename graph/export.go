package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/telemetry"
)

// Bounds of GET /activity/export.
const (
	MaxConcurrentExports = 2
	ExportTimeout        = 5 * time.Minute
)

// activityExport serves GET /activity/export?organization=ID[&since=TIME]:
// the organization's hash chain as JSON Lines (activitylog.Export), for a
// member holding activity:read there by a role, so that a customer keeps a
// copy of its own trail and checks it offline (identity activity verify
// --file). An organization the caller cannot read whole is NOT_FOUND, as an
// unknown one; platform staff, who read other organizations' data masked,
// export with the CLI.
//
// Exports read whole chains: at most MaxConcurrentExports run at once (a
// further one is 429 RATE_LIMITED), each for at most ExportTimeout.
func activityExport(client *ent.Client, log *slog.Logger) http.Handler {
	slots := make(chan struct{}, MaxConcurrentExports)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			rateLimited(w, r, telemetry.LimitExports, 10*time.Second)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ExportTimeout)
		defer cancel()
		q := r.URL.Query()
		org, err := pulid.Parse(q.Get("organization"))
		if err != nil || org.Prefix() != "org" {
			forbid(w, http.StatusBadRequest, CodeBadUserInput, fmt.Sprintf("organization %q: want the ID of an organization (org_…)", q.Get("organization")))
			return
		}
		var since time.Time
		if s := q.Get("since"); s != "" {
			if since, err = time.Parse(time.RFC3339, s); err != nil {
				forbid(w, http.StatusBadRequest, CodeBadUserInput, fmt.Sprintf("since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", s))
				return
			}
		}
		var grant *authz.OrgGrant
		if g, ok := authz.FromContext(ctx); ok {
			grant = g.In(org)
		}
		if grant == nil || len(grant.GrantedBy(permission.ActivityRead)) == 0 {
			forbid(w, http.StatusNotFound, CodeNotFound, "not found: no organization with this ID whose activity you may export (activity:read in it)")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="activity-%s.jsonl"`, org))
		w.Header().Set("Cache-Control", "no-store")
		// Authorized for the whole chain: the rows are read as the system,
		// unmasked, as they were hashed.
		sys := actor.NewContext(ctx, actor.System("activity export"))
		n, err := activitylog.Export(sys, client, w, string(org), since)
		if err != nil {
			// The status is sent already: the export ends short, and
			// verify --file reports the cut (or the caller sees a broken
			// last line).
			log.ErrorContext(ctx, "activity export failed", "organization", org, "rows", n, "err", err, "request_id", RequestID(ctx))
		}
	})
}
