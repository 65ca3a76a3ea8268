// Package trail writes the domain activities of the sign-in flows
// ("session.created", "user.login_failed", ...) into cf_activities.
//
// The audit hook of the schema records every create, update and delete as
// "<entity>.created/updated/deleted". A flow that records what happened in
// its own words runs its writes with Domain, which silences those generic
// records, and calls Record for each step, in the same transaction. It is
// internal: only the packages of this module may write the trail directly.
package trail

import (
	"context"
	"fmt"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/internal/bypass"
	"github.com/cf/identity/pulid"
)

// Event is one domain activity.
type Event struct {
	Verb         string
	ObjectType   string
	ObjectID     pulid.ID
	Organization pulid.ID
	// Actor records who acted; the actor of ctx when nil.
	Actor *actor.Actor
	// Data holds details; never a secret.
	Data map[string]any
}

type domainKey struct{}

// Domain returns a context whose writes the audit hook does not record:
// the caller records them with Record.
func Domain(ctx context.Context) context.Context {
	return context.WithValue(ctx, domainKey{}, true)
}

// IsDomain reports whether ctx comes from Domain.
func IsDomain(ctx context.Context) bool {
	v, _ := ctx.Value(domainKey{}).(bool)
	return v
}

// Record writes e through client (join a transaction by passing its
// client), with the request details of ctx (see package audit).
func Record(ctx context.Context, client *ent.Client, e Event) error {
	return RecordAll(ctx, client, []Event{e})
}

// RecordAll writes events in one statement (see Record).
func RecordAll(ctx context.Context, client *ent.Client, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	req := audit.FromContext(ctx)
	a := actor.FromContext(ctx)
	builders := make([]*ent.ActivityCreate, 0, len(events))
	for _, e := range events {
		ea := e.Actor
		if ea == nil {
			ea = a
		}
		b := client.Activity.Create().
			SetVerb(e.Verb).SetObjectType(e.ObjectType).SetObjectID(string(e.ObjectID)).
			SetChannel(req.Channel).SetIP(req.IP).SetUserAgent(req.UserAgent).SetRequestID(req.RequestID)
		if e.Data != nil {
			b.SetData(e.Data)
		}
		if e.Organization != "" {
			b.SetOrganizationID(e.Organization)
		}
		switch {
		case ea == nil:
			return fmt.Errorf("trail: %s without an actor", e.Verb)
		case ea.Kind() == actor.KindSystem:
			b.SetActorType("system").SetActorLabel(ea.Reason())
		case ea.Kind() == actor.KindAPIKey:
			b.SetActorType("api_key").SetActorAPIKeyID(ea.APIKeyID()).SetActorUserID(ea.UserID())
		default:
			b.SetActorType("user").SetActorUserID(ea.UserID())
		}
		if imp := ea.Impersonator(); imp != "" {
			b.SetImpersonatorID(imp)
		}
		builders = append(builders, b)
	}
	if err := client.Activity.CreateBulk(builders...).Exec(bypass.Allow(ctx, bypass.AuditRecord)); err != nil {
		return fmt.Errorf("trail: recording %d activities: %w", len(events), err)
	}
	return nil
}
