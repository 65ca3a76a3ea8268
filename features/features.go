// Package features switches the self-service flows of cf identity on and
// off: self-signup, invitations and password reset.
//
// Each flow has a default from configuration (IDENTITY_SIGNUP,
// IDENTITY_INVITATIONS, IDENTITY_PASSWORD_RESET; signup is off unless
// configured on). A platform admin (platform:settings_manage) can switch a
// flow at run time; that setting is a system preference
// ("features.<flow>", a JSON boolean) and wins over the configuration
// until it is cleared. Every server on the database sees it at its next
// request. A switched-off flow answers *DisabledError (FEATURE_DISABLED).
package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/permission"
)

// Flow names a flow that can be switched off.
type Flow string

// The flows.
const (
	Signup        Flow = "signup"
	Invitations   Flow = "invitations"
	PasswordReset Flow = "password_reset"
)

// Flows lists every flow.
var Flows = []Flow{Signup, Invitations, PasswordReset}

// Defaults returns the configuration of a server that sets none: signup
// off, invitations and password reset on.
func Defaults() map[Flow]bool {
	return map[Flow]bool{Signup: false, Invitations: true, PasswordReset: true}
}

// ErrDisabled is matched by a *DisabledError.
var ErrDisabled = errors.New("features: this flow is switched off")

// ErrUnknownFlow is returned for a flow name that is not in Flows.
var ErrUnknownFlow = errors.New("features: unknown flow")

// DisabledError refuses a request of a switched-off flow.
type DisabledError struct{ Flow Flow }

func (e *DisabledError) Error() string {
	return fmt.Sprintf("features: %s is switched off on this server", e.Flow)
}

// Is reports whether target is ErrDisabled.
func (e *DisabledError) Is(target error) bool { return target == ErrDisabled }

// Parse returns the flow named s.
func Parse(s string) (Flow, error) {
	for _, f := range Flows {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q: want signup, invitations or password_reset", ErrUnknownFlow, s)
}

// Gates answers whether flows are on. It is safe for concurrent use and
// holds no state of its own but the configured defaults.
type Gates struct {
	client   *ent.Client
	defaults map[Flow]bool
}

// New returns the gates of the database of client with the configured
// defaults (flows missing from defaults take Defaults()).
func New(client *ent.Client, defaults map[Flow]bool) *Gates {
	d := Defaults()
	for f, on := range defaults {
		d[f] = on
	}
	return &Gates{client: client, defaults: d}
}

// State is whether a flow is on, and why.
type State struct {
	Flow    Flow
	Enabled bool
	// Source is "configuration", or "runtime" when a platform admin set it.
	Source string
}

func key(f Flow) string { return "features." + string(f) }

// States returns the state of every flow, in the order of Flows, with one
// read.
func (g *Gates) States(ctx context.Context) ([]State, error) {
	return g.states(ctx, g.client)
}

// states is States read through client; nil reads the configuration only.
func (g *Gates) states(ctx context.Context, client *ent.Client) ([]State, error) {
	if client == nil {
		out := make([]State, len(Flows))
		for i, f := range Flows {
			out[i] = State{Flow: f, Enabled: g.defaults[f], Source: "configuration"}
		}
		return out, nil
	}
	keys := make([]string, len(Flows))
	for i, f := range Flows {
		keys[i] = key(f)
	}
	ps, err := client.Preference.Query().
		Where(preference.ScopeEQ(preference.ScopeSystem), preference.KeyIn(keys...)).
		All(actor.NewContext(ctx, actor.System("features")))
	if err != nil {
		return nil, fmt.Errorf("features: reading the settings: %w", err)
	}
	out := make([]State, len(Flows))
	for i, f := range Flows {
		out[i] = State{Flow: f, Enabled: g.defaults[f], Source: "configuration"}
		for _, p := range ps {
			var on bool
			// A null value is a deleted preference (package preference
			// keeps it as a tombstone): the configuration decides.
			if p.Key == key(f) && string(p.Value) != "null" && json.Unmarshal(p.Value, &on) == nil {
				out[i].Enabled, out[i].Source = on, "runtime"
			}
		}
	}
	return out, nil
}

// Enabled reports whether flow f is on.
func (g *Gates) Enabled(ctx context.Context, f Flow) (bool, error) {
	ss, err := g.States(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range ss {
		if s.Flow == f {
			return s.Enabled, nil
		}
	}
	return false, fmt.Errorf("%w %q", ErrUnknownFlow, f)
}

// Check returns a *DisabledError when flow f is off. A nil Gates has every
// flow on but signup, as Defaults.
func (g *Gates) Check(ctx context.Context, f Flow) error {
	if g == nil {
		if Defaults()[f] {
			return nil
		}
		return &DisabledError{Flow: f}
	}
	on, err := g.Enabled(ctx, f)
	if err != nil {
		return err
	}
	if !on {
		return &DisabledError{Flow: f}
	}
	return nil
}

// Set switches flow f on or off at run time, or (enabled nil) back to its
// configuration, as the actor of ctx (platform:settings_manage), through
// client (join a transaction by passing its client). The change is
// recorded (feature.enabled, feature.disabled, feature.reset).
func (g *Gates) Set(ctx context.Context, client *ent.Client, f Flow, enabled *bool) (State, error) {
	if _, err := Parse(string(f)); err != nil {
		return State{}, err
	}
	if gr, ok := authz.FromContext(ctx); !ok || !gr.IsSystem() && !gr.Platform(permission.PlatformSettingsManage) {
		return State{}, fmt.Errorf("%w: switching flows needs %s", privacy.Deny, permission.PlatformSettingsManage)
	}
	_, err := txn.Run(ctx, client, func(c *ent.Client) (struct{}, error) {
		dctx := trail.Domain(ctx)
		// Locked, so that concurrent switches of the flow run one after
		// the other (PostgreSQL; SQLite has one writer).
		cur, err := c.Preference.Query().
			Where(preference.ScopeEQ(preference.ScopeSystem), preference.Key(key(f)), txn.ForUpdate).
			Only(dctx)
		if err != nil && !ent.IsNotFound(err) {
			return struct{}{}, err
		}
		verb := "feature.reset"
		switch {
		case enabled == nil && cur != nil:
			if err := c.Preference.DeleteOne(cur).Exec(dctx); err != nil {
				return struct{}{}, err
			}
		case enabled == nil:
			return struct{}{}, nil
		default:
			v, _ := json.Marshal(*enabled)
			verb = "feature.disabled"
			if *enabled {
				verb = "feature.enabled"
			}
			if cur != nil {
				// The schema's hook bumps the version.
				err = c.Preference.UpdateOne(cur).SetValue(v).Exec(dctx)
			} else {
				err = c.Preference.Create().SetScope(preference.ScopeSystem).SetKey(key(f)).SetValue(v).Exec(dctx)
				if ent.IsConstraintError(err) {
					// Another request created the setting since the read.
					return struct{}{}, fmt.Errorf("%w: %s was switched by a concurrent request", authz.ErrConcurrentUpdate, f)
				}
			}
			if err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, trail.Record(ctx, c, trail.Event{Verb: verb, ObjectType: "Feature", Data: map[string]any{"flow": string(f)}})
	})
	if err != nil {
		return State{}, err
	}
	// Read through client: in the caller's transaction, the state it set.
	ss, err := g.states(ctx, client)
	if err != nil {
		return State{}, err
	}
	for _, s := range ss {
		if s.Flow == f {
			return s, nil
		}
	}
	return State{}, fmt.Errorf("%w %q", ErrUnknownFlow, f)
}
