package trail

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/permission"
)

// Exposure is how much of an activity's data a platform reader sees when
// it reads a row through its platform role alone (not as a member of the
// row's organization with activity:read, and not its own action).
type Exposure string

// The exposure levels.
const (
	// ExposeNone drops the data of such rows. Their IP and user agent
	// stay: the columns can be filtered on (where: {ipContains: …}), so
	// masking them would hide nothing, and they serve investigations.
	ExposeNone Exposure = "none"
	// ExposeSanitized (the default) replaces the values of the keys of
	// MaskedKeys, at any depth of the data, with Masked.
	ExposeSanitized Exposure = "sanitized"
	// ExposeAll shows the data as recorded.
	ExposeAll Exposure = "all"
)

// Masked replaces a masked value.
const Masked = "[masked]"

// MaskedKeys are the keys of activity data whose values a sanitized view
// masks: personal data and free text.
var MaskedKeys = []string{
	"email", "new_email", "provider_email", "provider_user_id", "first_name", "last_name", "display_name", "name",
	"phone", "avatar_url", "metadata", "ip", "last_ip", "user_agent", "message", "title", "department",
	"description", "reason", "status_reason", "ban_reason", "revoked_reason",
	// The values of changes (changes.FIELD.old/.new), of an email change
	// (from, to) and of a preference (old, new): a sanitized view tells
	// which fields changed, not to what.
	"old", "new", "from", "to", "value",
}

var platformExposure atomic.Value // Exposure

func init() { platformExposure.Store(ExposeSanitized) }

// ParseExposure parses none, sanitized or all.
func ParseExposure(s string) (Exposure, error) {
	switch e := Exposure(strings.ToLower(strings.TrimSpace(s))); e {
	case ExposeNone, ExposeSanitized, ExposeAll:
		return e, nil
	}
	return "", fmt.Errorf("trail: activity exposure %q: want none, sanitized or all", s)
}

// SetPlatformExposure sets how much data platform readers see (process
// wide; the server sets it from IDENTITY_ACTIVITY_PLATFORM_DATA).
func SetPlatformExposure(e Exposure) { platformExposure.Store(e) }

// PlatformExposure returns the current level.
func PlatformExposure() Exposure { return platformExposure.Load().(Exposure) }

// Mask returns an interceptor that applies the exposure level to the
// activities a query returns, by viewer: the system, the actor of a row and
// a member of the row's organization holding activity:read by a role see
// its data whole; any other reader (platform staff) sees it as
// PlatformExposure says.
func Mask() ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			v, err := next.Query(ctx, q)
			if err != nil {
				return v, err
			}
			switch rows := v.(type) {
			case []*ent.Activity:
				for _, a := range rows {
					maskFor(ctx, a)
				}
			case *ent.Activity:
				maskFor(ctx, rows)
			}
			return v, nil
		})
	})
}

func maskFor(ctx context.Context, a *ent.Activity) {
	if a == nil || len(a.Data) == 0 {
		return
	}
	g, ok := authz.FromContext(ctx)
	switch {
	case !ok:
		// No grants: the policy let nothing through anyway.
		a.Data = nil
		return
	case g.IsSystem():
		return
	case a.ActorUserID != nil && *a.ActorUserID == g.UserID():
		return
	case a.OrganizationID != nil:
		if o := g.In(*a.OrganizationID); o != nil && len(o.GrantedBy(permission.ActivityRead)) > 0 {
			return
		}
	}
	switch PlatformExposure() {
	case ExposeAll:
	case ExposeNone:
		a.Data = nil
	default:
		a.Data = maskMap(a.Data)
	}
}

func maskMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if slices.Contains(MaskedKeys, strings.ToLower(k)) {
			out[k] = Masked
			continue
		}
		out[k] = maskValue(v)
	}
	return out
}

func maskValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return maskMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e)
		}
		return out
	}
	return v
}
