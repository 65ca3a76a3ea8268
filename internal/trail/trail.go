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
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/activitychain"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/bypass"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/telemetry"
)

// Event is one domain activity.
type Event struct {
	Verb         string
	ObjectType   string
	ObjectID     pulid.ID
	Organization pulid.ID
	// Targets names further objects the action touched, as Type:ID.
	Targets []string
	// Actor records who acted; the actor of ctx when nil.
	Actor *actor.Actor
	// ActorDisplay shows the actor; by default the display of the grants
	// of ctx when Actor is the actor of ctx, a system actor's reason.
	ActorDisplay string
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

// RecordAll writes events, in order, in the transaction of client (or a
// transaction of its own): each becomes the next row of its hash chain (see
// package activitylog). The chain heads touched are locked in the order of
// their names until the transaction ends, so that a chain's rows are
// numbered in commit order.
func RecordAll(ctx context.Context, client *ent.Client, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	req := audit.FromContext(ctx)
	a := actor.FromContext(ctx)
	display := ""
	if g, ok := authz.FromContext(ctx); ok {
		display = g.Display()
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	entries := make([]activitylog.Entry, len(events))
	for i, e := range events {
		ea := e.Actor
		if ea == nil {
			ea = a
		}
		en := activitylog.Entry{
			ID: string(pulid.New("act")), Chain: activitylog.ChainOf(e.Organization),
			OrganizationID: string(e.Organization), ActorDisplay: e.ActorDisplay,
			Verb: e.Verb, ObjectType: e.ObjectType, ObjectID: string(e.ObjectID), Targets: e.Targets,
			Channel: req.Channel, IP: req.IP, UserAgent: req.UserAgent, RequestID: req.RequestID,
			OccurredAt: activitylog.FormatTime(now), Data: e.Data,
		}
		switch {
		case ea == nil:
			return fmt.Errorf("trail: %s without an actor", e.Verb)
		case ea.Kind() == actor.KindSystem:
			en.ActorType, en.ActorLabel = "system", ea.Reason()
			if en.ActorDisplay == "" {
				en.ActorDisplay = ea.Reason()
			}
		case ea.Kind() == actor.KindAPIKey:
			en.ActorType, en.ActorAPIKeyID, en.ActorUserID = "api_key", string(ea.APIKeyID()), string(ea.UserID())
		default:
			en.ActorType, en.ActorUserID = "user", string(ea.UserID())
		}
		if en.ActorDisplay == "" && ea == a {
			en.ActorDisplay = display
		}
		// Stored as hashed: clipped to the columns' sizes first.
		en.ActorDisplay, en.ActorLabel = Clip(en.ActorDisplay, 320), Clip(en.ActorLabel, 200)
		en.IP, en.UserAgent, en.RequestID = Clip(en.IP, 45), Clip(en.UserAgent, 512), Clip(en.RequestID, 64)
		en.ImpersonatorID = string(ea.Impersonator())
		entries[i] = en
	}
	// In a transaction, the rows join their chains when it commits: the chain heads are locked only from then to
	// the commit, so writers of one chain wait for each other briefly.
	if tx := client.CurrentTx(); tx != nil {
		txn.Track(tx)
	}
	buf, ok := pendingOf(client)
	if ok {
		buf.mu.Lock()
		buf.entries = append(buf.entries, entries...)
		buf.mu.Unlock()
		return nil
	}
	_, err := txn.Run(ctx, client, func(c *ent.Client) (struct{}, error) {
		return struct{}{}, flush(ctx, c, entries)
	})
	if err != nil {
		return fmt.Errorf("trail: recording %d activities: %w", len(events), err)
	}
	return nil
}

// pendingOf returns the activities waiting for the commit of the
// transaction of client; ok is false outside a transaction.
func pendingOf(client *ent.Client) (*pending, bool) {
	return txn.Local(client, pendingKey{}, func() *pending { return &pending{} }, func(ctx context.Context, p *pending) error {
		return p.flush(ctx, client)
	})
}

// Flush writes now the activities recorded in the transaction of client
// that wait for its commit, so that the transaction reads them back; the
// heads of their chains stay locked until it ends. Outside a transaction
// it does nothing (activities are written at once there).
func Flush(ctx context.Context, client *ent.Client) error {
	if p, ok := pendingOf(client); ok {
		return p.flush(ctx, client)
	}
	return nil
}

func (p *pending) flush(ctx context.Context, client *ent.Client) error {
	p.mu.Lock()
	entries := p.entries
	p.entries = nil
	p.mu.Unlock()
	if err := flush(ctx, client, entries); err != nil {
		return fmt.Errorf("trail: recording %d activities: %w", len(entries), err)
	}
	return nil
}

// pending holds the activities of a transaction until it commits.
type pending struct {
	mu      sync.Mutex
	entries []activitylog.Entry
}

type pendingKey struct{}

// flush writes entries (see write) with their actors' names.
func flush(ctx context.Context, c *ent.Client, entries []activitylog.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := displayUsers(ctx, c, entries); err != nil {
		return err
	}
	return write(ctx, c, entries)
}

// write chains entries (filling in seq, prev_hash and hash) and inserts
// them: per chain one locking read of the head and one update of it, and
// one insert for all.
func write(ctx context.Context, c *ent.Client, entries []activitylog.Entry) error {
	sys := actor.NewContext(ctx, actor.System("activity trail"))
	var chains []string
	for _, e := range entries {
		if !slices.Contains(chains, e.Chain) {
			chains = append(chains, e.Chain)
		}
	}
	slices.Sort(chains)
	for _, chain := range chains {
		head, err := lockHead(sys, c, chain)
		if err != nil {
			return err
		}
		seq, prev := head.Seq, head.Hash
		for i := range entries {
			if entries[i].Chain != chain {
				continue
			}
			seq++
			entries[i].Seq, entries[i].PrevHash = seq, prev
			if entries[i].Hash, err = activitylog.HashOf(entries[i]); err != nil {
				return err
			}
			prev = entries[i].Hash
		}
		// A bulk update of the one locked row: one statement, where an
		// update of one entity would read the row back.
		n, err := c.ActivityChain.Update().Where(activitychain.ID(chain)).SetSeq(seq).SetHash(prev).Save(sys)
		if err != nil {
			return fmt.Errorf("advancing the head of chain %s: %w", chain, err)
		}
		if n != 1 {
			return fmt.Errorf("advancing the head of chain %s: %d rows updated, want 1", chain, n)
		}
	}
	builders := make([]*ent.ActivityCreate, len(entries))
	for i, e := range entries {
		at, err := time.Parse(activitylog.TimeLayout, e.OccurredAt)
		if err != nil {
			return fmt.Errorf("activity %s: %w", e.ID, err)
		}
		b := c.Activity.Create().SetID(pulid.ID(e.ID)).SetCreatedAt(at).
			SetActorType(activity.ActorType(e.ActorType)).SetActorLabel(e.ActorLabel).SetActorDisplay(e.ActorDisplay).
			SetVerb(e.Verb).SetObjectType(e.ObjectType).SetObjectID(e.ObjectID).
			SetChannel(e.Channel).SetIP(e.IP).SetUserAgent(e.UserAgent).SetRequestID(e.RequestID).
			SetChain(e.Chain).SetSeq(e.Seq).SetPrevHash(e.PrevHash).SetHash(e.Hash)
		if e.Data != nil {
			b.SetData(e.Data)
		}
		if len(e.Targets) > 0 {
			b.SetTargets(e.Targets)
		}
		for _, f := range []struct {
			v   string
			set func(pulid.ID) *ent.ActivityCreate
		}{{e.OrganizationID, b.SetOrganizationID}, {e.ActorUserID, b.SetActorUserID}, {e.ActorAPIKeyID, b.SetActorAPIKeyID}, {e.ImpersonatorID, b.SetImpersonatorID}} {
			if f.v != "" {
				f.set(pulid.ID(f.v))
			}
		}
		builders[i] = b
	}
	if err := c.Activity.CreateBulk(builders...).Exec(bypass.Allow(ctx, bypass.AuditRecord)); err != nil {
		return err
	}
	platform := 0
	for _, e := range entries {
		if e.Chain == activitylog.PlatformChain {
			platform++
		}
	}
	telemetry.ActivityRows(ctx, "platform", platform)
	telemetry.ActivityRows(ctx, "organization", len(entries)-platform)
	return nil
}

// displayUsers fills in the display of entries whose user actor had no
// grants loaded (a flow acting as the user who signs in, say), with one
// read of those users.
func displayUsers(ctx context.Context, c *ent.Client, entries []activitylog.Entry) error {
	var ids []pulid.ID
	for _, e := range entries {
		if e.ActorDisplay == "" && e.ActorUserID != "" && !slices.Contains(ids, pulid.ID(e.ActorUserID)) {
			ids = append(ids, pulid.ID(e.ActorUserID))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sys := actor.NewContext(ctx, actor.System("activity trail"))
	us, err := c.User.Query().Where(user.IDIn(ids...)).Select(user.FieldEmail, user.FieldDisplayName).All(sys)
	if err != nil {
		return fmt.Errorf("reading the actors' names: %w", err)
	}
	for i, e := range entries {
		for _, u := range us {
			if e.ActorDisplay == "" && string(u.ID) == e.ActorUserID {
				entries[i].ActorDisplay = u.Email
				if u.DisplayName != "" {
					entries[i].ActorDisplay = u.DisplayName
				}
			}
		}
	}
	return nil
}

// lockHead returns the head of chain, locked until the end of the
// transaction (PostgreSQL; SQLite transactions here take the write lock
// when they begin), creating it on first use.
func lockHead(sys context.Context, c *ent.Client, chain string) (*ent.ActivityChain, error) {
	for range 2 {
		head, err := c.ActivityChain.Query().Where(activitychain.ID(chain), txn.ForUpdate).Only(sys)
		if err == nil {
			return head, nil
		}
		if !ent.IsNotFound(err) {
			return nil, fmt.Errorf("locking the head of chain %s: %w", chain, err)
		}
		err = c.ActivityChain.Create().SetID(chain).OnConflict(entsql.ConflictColumns(activitychain.FieldID)).DoNothing().Exec(sys)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("creating the head of chain %s: %w", chain, err)
		}
	}
	return nil, fmt.Errorf("trail: the head of chain %s vanished", chain)
}

// Clip returns s as valid UTF-8 (invalid bytes replaced by U+FFFD) cut to
// at most n bytes on a character boundary. The trail stores request fields
// and names clipped so, whoever supplied them (an HTTP header, a Go app's
// audit.WithRequest): PostgreSQL refuses invalid UTF-8, and a row is
// stored as it was hashed.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Changes returns the data.changes of an activity from the old and the new
// values of the fields a flow changed: {field: {"old": ..., "new": ...}},
// the shape the audit hook records for generic writes.
func Changes(before, after map[string]any) map[string]any {
	out := make(map[string]any, len(after))
	for f, nv := range after {
		out[f] = map[string]any{"old": before[f], "new": nv}
	}
	return out
}
