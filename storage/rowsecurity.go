package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/internal/bypass"
	"github.com/cf/identity/permission"
)

// Row-level security (PostgreSQL).
//
// The postgres migration 20261203130000_row_security enables and forces
// row-level security on every cf_ table that holds tenant or user rows.
// Its policies read transaction-local settings (set_config(name, value,
// true)) that describe the actor of the statement; the driver that
// NewClient builds sets them from the actor on the statement's context:
//
//	cf.system            "on" for the system actor (actor.System)
//	cf.bypass            the bypass.Reason of a context built by bypass.Allow
//	cf.user              the acting user (an API key's owner)
//	cf.active_org        the active organization, "" for all of them
//	cf.loaded            "on" for a user or API key actor whose grants are
//	                     loaded (authz.NewContext)
//	cf.superadmin        "on" for a superadmin acting across organizations
//	cf.org_create        "on" when the actor may create organizations
//	cf.p_<perm>          "on" while platform permission platform:<perm> is in effect
//	cf.below_rank        the platform roles below the actor's own, comma-separated
//	cf.impersonator      the acting user when it is a signed-in user (it sees
//	                     the impersonations it runs)
//	cf.o_<perm>          the organizations where the actor holds <perm>
//	                     (":" written "_"), comma-separated; "*" for all
//	cf.s_<perm>          the acting user when its credential may use <perm>
//	                     on its own rows; cf.s_all for the scope "*"
//	cf.member_orgs       the organizations the actor is an active member of
//	                     (where its sessions may be active)
//	cf.impersonated_by   the impersonator of an impersonated session
//	cf.key_scopes        the scopes a personal API key it creates may hold,
//	                     comma-separated
//
// Every setting is written before the first statement of each transaction
// and again whenever a statement's actor differs from the previous one's
// (a policy check that runs as the system inside a user's transaction,
// say); being transaction-local, they are gone when the transaction ends,
// so no pooled connection carries an actor to the next request. A
// statement outside a transaction is run inside a short one (BEGIN,
// settings, statement, COMMIT). A context without an actor sets every
// setting to "", and the policies then reach no row.
//
// The settings are written only when the connected role is subject to
// row-level security: superusers and roles with BYPASSRLS skip the
// policies, so for them the driver adds no statement. Connect as the role
// of `identity db create-role` for the second layer to apply.

// ErrRowSecurityQueryContext is returned by the client's QueryContext
// outside a transaction while row-level security applies: the rows would
// outlive the short transaction that carries the settings. Run it in a
// transaction (client.Tx) instead.
var ErrRowSecurityQueryContext = errors.New("storage: QueryContext outside a transaction is not supported under row-level security; use a transaction")

// rowSecurity is the driver that writes the settings of the statement's
// actor; see above.
type rowSecurity struct {
	dialect.Driver
	mu      sync.Mutex
	checked bool
	subject bool // the connected role is subject to row-level security
}

// txBeginner is the BeginTx of ent's SQL driver (and of telemetry.Driver).
type txBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error)
}

// execQuerier is what ent's client calls for ExecContext and QueryContext.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// WithRowSecurity wraps drv, an ent driver of a PostgreSQL database, so
// that every statement carries the row-level security settings of the
// actor on its context (see the notes above); NewClient does it for
// PostgreSQL. Use it for a client built on a driver of your own (a
// counting or tracing one, say). drv should offer BeginTx, ExecContext and
// QueryContext, as ent's SQL driver does.
func WithRowSecurity(drv dialect.Driver) dialect.Driver {
	return &rowSecurity{Driver: drv}
}

// applies reports whether the connected role is subject to row-level
// security, asking the server once (again after a failure).
func (d *rowSecurity) applies(ctx context.Context) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.checked {
		return d.subject, nil
	}
	var rows entsql.Rows
	if err := d.Driver.Query(ctx, "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user", []any{}, &rows); err != nil {
		return false, fmt.Errorf("storage: checking whether row-level security applies: %w", err)
	}
	// Read to the end below; a Close error changes nothing.
	defer func() { _ = rows.Close() }()
	subject := true // a role not listed (impossible) gets the settings
	if rows.Next() {
		if err := rows.Scan(&subject); err != nil {
			return false, fmt.Errorf("storage: checking whether row-level security applies: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("storage: checking whether row-level security applies: %w", err)
	}
	d.checked, d.subject = true, subject
	return subject, nil
}

// Exec runs a statement outside a transaction, inside a short one that
// carries the settings when row-level security applies.
func (d *rowSecurity) Exec(ctx context.Context, query string, args, v any) error {
	on, err := d.applies(ctx)
	if err != nil {
		return err
	}
	if !on {
		return d.Driver.Exec(ctx, query, args, v)
	}
	tx, err := d.begin(ctx, nil)
	if err != nil {
		return err
	}
	if err := tx.Exec(ctx, query, args, v); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

// Query runs a query outside a transaction, inside a short one that
// carries the settings when row-level security applies; the transaction
// commits when the rows are closed.
func (d *rowSecurity) Query(ctx context.Context, query string, args, v any) error {
	on, err := d.applies(ctx)
	if err != nil {
		return err
	}
	if !on {
		return d.Driver.Query(ctx, query, args, v)
	}
	rows, ok := v.(*entsql.Rows)
	if !ok {
		return fmt.Errorf("storage: unexpected rows type %T", v)
	}
	tx, err := d.begin(ctx, nil)
	if err != nil {
		return err
	}
	if err := tx.Query(ctx, query, args, v); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	rows.ColumnScanner = &commitOnClose{ColumnScanner: rows.ColumnScanner, tx: tx}
	return nil
}

// ExecContext is Exec for the client's ExecContext.
func (d *rowSecurity) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	eq, ok := d.Driver.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("storage: driver %T has no ExecContext", d.Driver)
	}
	on, err := d.applies(ctx)
	if err != nil {
		return nil, err
	}
	if !on {
		return eq.ExecContext(ctx, query, args...)
	}
	tx, err := d.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return res, tx.Commit()
}

// QueryContext is the client's QueryContext; outside a transaction it
// fails with ErrRowSecurityQueryContext while row-level security applies.
func (d *rowSecurity) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	eq, ok := d.Driver.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("storage: driver %T has no QueryContext", d.Driver)
	}
	on, err := d.applies(ctx)
	if err != nil {
		return nil, err
	}
	if on {
		return nil, ErrRowSecurityQueryContext
	}
	return eq.QueryContext(ctx, query, args...) //nolint:sqlclosecheck // the rows go to the caller, who closes them
}

// Tx starts a transaction whose statements carry the settings.
func (d *rowSecurity) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a transaction with options (ent's Client.BeginTx).
func (d *rowSecurity) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	on, err := d.applies(ctx)
	if err != nil {
		return nil, err
	}
	if !on {
		return d.beginRaw(ctx, opts)
	}
	return d.begin(ctx, opts)
}

func (d *rowSecurity) beginRaw(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	if b, ok := d.Driver.(txBeginner); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts != nil {
		return nil, fmt.Errorf("storage: driver %T does not take transaction options", d.Driver)
	}
	return d.Driver.Tx(ctx)
}

func (d *rowSecurity) begin(ctx context.Context, opts *sql.TxOptions) (*securedTx, error) {
	tx, err := d.beginRaw(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &securedTx{Tx: tx}, nil
}

// DB returns the *sql.DB under the driver, when it has one.
func (d *rowSecurity) DB() *sql.DB {
	if x, ok := d.Driver.(interface{ DB() *sql.DB }); ok {
		return x.DB()
	}
	return nil
}

// securedTx writes the settings of each statement's actor before the
// statement when they differ from those in effect.
type securedTx struct {
	dialect.Tx
	mu      sync.Mutex
	applied []string // values in effect; nil before the first statement
}

func (t *securedTx) secure(ctx context.Context) error {
	vals := settingsOf(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.applied != nil && slices.Equal(t.applied, vals) {
		return nil
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	if err := t.Tx.Exec(ctx, setSettings, args, nil); err != nil {
		return fmt.Errorf("storage: setting the actor for row-level security: %w", err)
	}
	t.applied = vals
	return nil
}

func (t *securedTx) Exec(ctx context.Context, query string, args, v any) error {
	if err := t.secure(ctx); err != nil {
		return err
	}
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *securedTx) Query(ctx context.Context, query string, args, v any) error {
	if err := t.secure(ctx); err != nil {
		return err
	}
	return t.Tx.Query(ctx, query, args, v)
}

// ExecContext runs a statement of the client's ExecContext in the
// transaction.
func (t *securedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	eq, ok := t.Tx.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("storage: transaction %T has no ExecContext", t.Tx)
	}
	if err := t.secure(ctx); err != nil {
		return nil, err
	}
	return eq.ExecContext(ctx, query, args...)
}

// QueryContext runs a query of the client's QueryContext in the
// transaction.
func (t *securedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	eq, ok := t.Tx.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("storage: transaction %T has no QueryContext", t.Tx)
	}
	if err := t.secure(ctx); err != nil {
		return nil, err
	}
	return eq.QueryContext(ctx, query, args...) //nolint:sqlclosecheck // the rows go to the caller, who closes them
}

// commitOnClose commits the short transaction of a query when its rows
// are closed.
type commitOnClose struct {
	entsql.ColumnScanner
	tx   dialect.Tx
	once sync.Once
	err  error
}

func (r *commitOnClose) Close() error {
	r.once.Do(func() {
		if err := r.ColumnScanner.Close(); err != nil {
			r.err = errors.Join(err, ignoreDone(r.tx.Rollback()))
			return
		}
		if err := r.ColumnScanner.Err(); err != nil {
			r.err = errors.Join(err, ignoreDone(r.tx.Rollback()))
			return
		}
		r.err = r.tx.Commit()
	})
	return r.err
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// settingNames are the settings the policies read, in the order of
// setSettings' arguments.
var settingNames = func() []string {
	names := []string{"cf.system", "cf.bypass", "cf.user", "cf.active_org", "cf.loaded", "cf.superadmin", "cf.org_create",
		"cf.p_read", "cf.p_user_manage", "cf.p_organization_manage", "cf.p_settings_manage", "cf.p_impersonate",
		"cf.below_rank", "cf.impersonator", "cf.s_all", "cf.member_orgs", "cf.impersonated_by", "cf.key_scopes"}
	for _, e := range permission.Catalog {
		if !e.Platform {
			names = append(names, "cf.o_"+settingSuffix(e.Name), "cf.s_"+settingSuffix(e.Name))
		}
	}
	return names
}()

// settingIndex is the position of each name in settingNames.
var settingIndex = func() map[string]int {
	m := make(map[string]int, len(settingNames))
	for i, n := range settingNames {
		m[n] = i
	}
	return m
}()

// setSettings writes every setting of settingNames, transaction-local, in
// one statement.
var setSettings = func() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, n := range settingNames {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "set_config('%s', $%d, true)", n, i+1)
	}
	return b.String()
}()

func settingSuffix(perm string) string { return strings.ReplaceAll(perm, ":", "_") }

// RowSecuritySettings returns the settings of row-level security for the
// actor of ctx, by name (see the package's row-level security notes).
// Tests and programs that talk to the database with database/sql directly
// use it to act as an actor; the ent client sets them itself.
func RowSecuritySettings(ctx context.Context) map[string]string {
	vals := settingsOf(ctx)
	out := make(map[string]string, len(vals))
	for i, n := range settingNames {
		out[n] = vals[i]
	}
	return out
}

// settingsOf computes the values of settingNames for the actor of ctx.
func settingsOf(ctx context.Context) []string {
	vals := make([]string, len(settingNames))
	set := func(name, v string) { vals[settingIndex[name]] = v }
	on := func(b bool) string {
		if b {
			return "on"
		}
		return ""
	}
	if r, ok := bypass.ReasonFrom(ctx); ok {
		set("cf.bypass", string(r))
	}
	a := actor.FromContext(ctx)
	if a == nil {
		return vals
	}
	if a.IsSystem() {
		set("cf.system", "on")
		return vals
	}
	set("cf.user", string(a.UserID()))
	set("cf.active_org", string(a.ActiveOrganization()))
	g, ok := authz.FromContext(ctx)
	if !ok {
		return vals // grants not loaded: nothing but the bypass, if any
	}
	set("cf.loaded", "on")
	set("cf.superadmin", on(g.Platform(permission.PlatformRoleGrant)))
	creator := a.Kind() == actor.KindUser || (a.Kind() == actor.KindAPIKey && a.OrganizationID() == "" && a.HasScope(actor.ScopeAll))
	set("cf.org_create", on(g.Platform(permission.PlatformOrganizationManage) || creator))
	set("cf.p_read", on(g.Platform(permission.PlatformRead)))
	set("cf.p_user_manage", on(g.Platform(permission.PlatformUserManage)))
	set("cf.p_organization_manage", on(g.Platform(permission.PlatformOrganizationManage)))
	set("cf.p_settings_manage", on(g.Platform(permission.PlatformSettingsManage)))
	imp, _ := g.PlatformCan(permission.PlatformImpersonate)
	set("cf.p_impersonate", on(imp))
	var below []string
	for _, r := range []actor.PlatformRole{actor.PlatformNone, actor.PlatformSupport, actor.PlatformAdmin, actor.PlatformSuperadmin} {
		if r.Level() < g.PlatformRole().Level() {
			below = append(below, string(r))
		}
	}
	set("cf.below_rank", strings.Join(below, ","))
	if me := g.Self(actor.ScopeAll); me != "" && a.Kind() == actor.KindUser {
		set("cf.impersonator", string(me))
	}
	set("cf.s_all", string(g.Self(actor.ScopeAll)))
	set("cf.impersonated_by", string(a.Impersonator()))
	var members []string
	for _, o := range g.Organizations() {
		members = append(members, string(o.OrganizationID))
	}
	set("cf.member_orgs", strings.Join(members, ","))
	set("cf.key_scopes", keyScopes(g))
	for _, e := range permission.Catalog {
		if e.Platform {
			continue
		}
		sfx := settingSuffix(e.Name)
		orgs, all := g.OrgsWith(e.Name)
		if all {
			set("cf.o_"+sfx, "*")
		} else {
			ids := make([]string, len(orgs))
			for i, o := range orgs {
				ids[i] = string(o)
			}
			set("cf.o_"+sfx, strings.Join(ids, ","))
		}
		set("cf.s_"+sfx, string(g.Self(e.Name)))
	}
	return vals
}

// keyScopes returns the value of cf.key_scopes: the scopes a personal API
// key created by the actor of g may hold, as the Go policy decides them:
// the scopes of the creating credential that its owner holds, through a
// role of one of its organizations (authz.Grants.HeldAnywhere), its stored
// platform role, or as self-service.
func keyScopes(g *authz.Grants) string {
	a := g.Actor()
	var out []string
	if a.HasScope(actor.ScopeAll) {
		out = append(out, actor.ScopeAll)
	}
	for _, e := range permission.Catalog {
		held := authz.PlatformCovers(g.PlatformRole(), e.Name) || (!e.Platform && (permission.SelfService(e.Name) || g.HeldAnywhere(e.Name)))
		if held && a.HasScope(e.Name) {
			out = append(out, e.Name)
		}
	}
	return strings.Join(out, ",")
}
