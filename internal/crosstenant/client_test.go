package crosstenant_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/entql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/softdelete"
)

// --- reflection over the generated client ------------------------------------

// entityRef is the builder client of one entity on one *ent.Client.
type entityRef struct {
	name   string
	client reflect.Value // *ent.XClient
}

// entitiesOf returns every entity client of c, by reflection, so that a new
// entity gets its cases without a change here.
func entitiesOf(c *ent.Client) []entityRef {
	var out []entityRef
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Pointer || !strings.HasSuffix(f.Type.Elem().Name(), "Client") {
			continue
		}
		if _, ok := f.Type.MethodByName("Query"); !ok {
			continue
		}
		out = append(out, entityRef{name: f.Name, client: v.Field(i)})
	}
	return out
}

func entityOf(c *ent.Client, name string) entityRef {
	for _, e := range entitiesOf(c) {
		if e.name == name {
			return e
		}
	}
	panic("no entity " + name)
}

// call calls method of v with args and returns its results.
func call(v reflect.Value, method string, args ...any) []reflect.Value {
	m := v.MethodByName(method)
	if !m.IsValid() {
		panic(fmt.Sprintf("%s has no method %s", v.Type(), method))
	}
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		if rv, ok := a.(reflect.Value); ok {
			in[i] = rv
		} else {
			in[i] = reflect.ValueOf(a)
		}
	}
	return m.Call(in)
}

// result splits the results of a call into its value and error.
func result(vs []reflect.Value) (any, error) {
	var err error
	if last := vs[len(vs)-1]; last.Type() == reflect.TypeFor[error]() {
		if !last.IsNil() {
			err = last.Interface().(error)
		}
		vs = vs[:len(vs)-1]
	}
	if len(vs) == 0 {
		return nil, err
	}
	return vs[0].Interface(), err
}

// where adds the predicate p to a query or update builder.
func where(b reflect.Value, p func(*entsql.Selector)) reflect.Value {
	m := b.MethodByName("Where")
	return m.Call([]reflect.Value{reflect.ValueOf(p).Convert(m.Type().In(0).Elem())})[0]
}

func idIn(ids []pulid.ID) func(*entsql.Selector) {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = string(id)
	}
	return func(s *entsql.Selector) { s.Where(entsql.In(s.C("id"), vals...)) }
}

func (e entityRef) query() reflect.Value { return call(e.client, "Query")[0] }

// rows loads the rows with ids as the system, soft-deleted ones included.
func (e entityRef) rows(ids []pulid.ID) []reflect.Value {
	v, err := result(call(where(e.query(), idIn(ids)), "All", softdelete.IncludeDeleted(sysCtx())))
	if err != nil {
		panic(err)
	}
	rv := reflect.ValueOf(v)
	out := make([]reflect.Value, rv.Len())
	for i := range out {
		out[i] = rv.Index(i)
	}
	return out
}

// column is one stored scalar column of an entity and its value in a row.
type column struct {
	name  string
	value any
}

// columns returns the scalar columns of a row struct that have a value.
func columns(rowPtr reflect.Value) []column {
	var out []column
	v := rowPtr.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || tag == "" || tag == "-" || tag == "edges" {
			continue
		}
		x := v.Field(i)
		if x.Kind() == reflect.Pointer {
			if x.IsNil() {
				continue
			}
			x = x.Elem()
		}
		switch {
		case x.Type() == reflect.TypeFor[time.Time]():
		case x.Kind() == reflect.String, x.Kind() == reflect.Bool, x.Kind() == reflect.Int:
		default:
			continue // JSON, lists, secrets
		}
		out = append(out, column{tag, x.Interface()})
	}
	return out
}

// edgeMethod is a write through an edge of an update builder.
type edgeMethod struct {
	name   string
	target string // entity at the other end
	unique bool   // Set/Clear of a unique edge
	clear  bool
}

// edgeMethods lists, by reflection, the edge writes of builder type bt:
// AddX(...*T), RemoveX(...*T), SetX(*T) and the matching ClearX().
func edgeMethods(bt reflect.Type) []edgeMethod {
	entityType := func(t reflect.Type) (string, bool) {
		if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || t.Elem().PkgPath() != reflect.TypeFor[ent.User]().PkgPath() {
			return "", false
		}
		if _, ok := t.Elem().FieldByName("Edges"); !ok {
			return "", false
		}
		return t.Elem().Name(), true
	}
	var out []edgeMethod
	edgeNames := map[string]string{}
	for i := range bt.NumMethod() {
		m := bt.Method(i)
		if m.Type.NumIn() != 2 {
			continue
		}
		in := m.Type.In(1)
		switch {
		case (strings.HasPrefix(m.Name, "Add") || strings.HasPrefix(m.Name, "Remove")) && m.Type.IsVariadic():
			if t, ok := entityType(in.Elem()); ok {
				out = append(out, edgeMethod{name: m.Name, target: t})
				edgeNames[strings.TrimPrefix(strings.TrimPrefix(m.Name, "Add"), "Remove")] = t
			}
		case strings.HasPrefix(m.Name, "Set"):
			if t, ok := entityType(in); ok {
				out = append(out, edgeMethod{name: m.Name, target: t, unique: true})
				edgeNames[strings.TrimPrefix(m.Name, "Set")] = t
			}
		}
	}
	for e, t := range edgeNames {
		if _, ok := bt.MethodByName("Clear" + e); ok {
			out = append(out, edgeMethod{name: "Clear" + e, target: t, clear: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// --- cases -----------------------------------------------------------------

type clientRead struct {
	name string
	run  func(ctx context.Context) (any, error)
	// target is the A row the control must get back ("" for none).
	target string
	// notFound: callers other than support get ent.IsNotFound.
	notFound bool
	check    func(p principal, v any) []string
	// goPredicate marks the cases of edge predicates built in Go (see
	// goEdgePredicatesTrusted).
	goPredicate bool
	// ownColumn marks a Go edge predicate that reads a column of the row
	// itself (a foreign key: has organization is organization_id IS NOT
	// NULL), not a subquery: row-level security has no rows to hide
	// there, and it tells nothing of other rows.
	ownColumn bool
	// systemOnly: the case reads an entity that only the system reaches
	// (see systemOnly); every principal, the control and support included,
	// must be refused with privacy.Deny (noder: not found) and get nothing.
	systemOnly bool
	// eagerLoad marks an eager load of a system-only edge: a caller that
	// reads no start row loads nothing, so nothing is refused either; it
	// must still get nothing of the system's rows.
	eagerLoad bool
	// expect checks what the policy lets p read (positive expectations:
	// a row p may read and does not get is a refusal, one it gets and may
	// not read a leak); it runs for every principal, the control included.
	expect func(p principal, v any) (leaks, refusals []string)
}

// goEdgePredicatesTrusted: on the ent client, edge predicates (the
// generated HasXWith, entql HasEdge and HasEdgeWith) are SQL subqueries
// that the related entity's privacy policy does not reach, so a program
// that lets a caller choose them lets the caller probe rows it cannot read
// (does this user have a membership in that organization?). Predicates are
// the program's code: the GraphQL API, which takes them from its callers,
// restricts them to what the caller may read (graph/edgefilter.go); a Go
// program must not build them from a caller's input. The suite runs these
// cases and reports what they find without failing while this is true; set
// it to false once the generated predicates apply the policies (an ent
// template for dialect/sql/predicate/edge/haswith), and they must pass.
const goEdgePredicatesTrusted = true

type clientWrite struct {
	name  string
	run   func(ctx context.Context, c *ent.Client) error
	given []pulid.ID // IDs the case names (errors may echo them)
	// strict: any change of the database is a violation, not only a
	// change of A's rows.
	strict bool
	// only restricts the case to the principals it returns true for (nil:
	// every principal).
	only func(p principal) bool
	// allowed says whether the policy lets p do the write (nil: no
	// expectation beyond the database checks): a refused allowed write is
	// a wrong refusal, a done write that is not allowed a leak.
	allowed func(p principal) bool
	// control runs the case as the control superadmin too (it must be
	// refused as well: system-only entities).
	control bool
}

// queryTarget returns the entity a traversal method (QueryX) of type mt
// leads to: the name of its *ent.XQuery result without "Query".
func queryTarget(mt reflect.Type) string {
	return strings.TrimSuffix(mt.Out(0).Elem().Name(), "Query")
}

// loadTarget returns the entity an eager load (WithX(...func(*ent.XQuery)))
// of method type mt loads.
func loadTarget(mt reflect.Type) string {
	return strings.TrimSuffix(mt.In(1).Elem().In(0).Elem().Name(), "Query")
}

// rowsOf returns the fixture's IDs of entity name in A (or B's with b);
// for a system-only entity, the system's rows.
func (f *fixture) rowsOf(name string, b bool) []pulid.ID {
	switch {
	case systemOnly[name]:
		return f.systemRows[name]
	case b:
		return f.bRows[name]
	}
	return f.aRows[name]
}

// supportBlind are the entities platform support does not read, and why:
// support reads what the read permissions of organizations cover, and
// these need another permission.
var supportBlind = map[string]string{
	"Invitation": "invitations are read with member:invite, which support does not hold",
}

// maxRows bounds the row-by-row cases per entity.
const maxRows = 6

func firstN[T any](xs []T, n int) []T { return xs[:min(n, len(xs))] }

func (s *suite) runClient(t *testing.T) {
	reads := s.clientReads(t)
	for _, p := range append(slices.Clone(s.principals), s.control) {
		ctx := s.ctxOf(t, p)
		for _, c := range reads {
			s.runClientRead(t, p, ctx, c)
		}
	}
	base, err := takeSnapshot(context.Background(), s.owner)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	writes := s.clientWrites(t)
	for _, p := range s.principals {
		for _, w := range writes {
			if w.only != nil && !w.only(p) {
				continue
			}
			s.runClientWrite(t, p, base, w)
		}
	}
	for _, w := range writes {
		if w.control {
			s.runClientWrite(t, s.control, base, w)
		}
	}
}

func (s *suite) clientReads(t *testing.T) []clientRead {
	var cs []clientRead
	root := s.client
	for _, e := range entitiesOf(root) {
		if notAimed[e.name] {
			continue
		}
		if systemOnly[e.name] {
			cs = append(cs, s.systemOnlyReads(e)...)
			continue
		}
		aIDs := s.f.aRows[e.name]
		if len(aIDs) == 0 {
			t.Errorf("generator: entity %s has no rows of A in the fixture", e.name)
			continue
		}
		aRows := e.rows(aIDs)
		name := func(format string, args ...any) string { return e.name + " " + fmt.Sprintf(format, args...) }
		anyA := string(aIDs[0])
		cs = append(cs,
			clientRead{name: name("All"), target: anyA, run: func(ctx context.Context) (any, error) { return result(call(e.query(), "All", ctx)) }},
			clientRead{name: name("IDs"), target: anyA, run: func(ctx context.Context) (any, error) { return result(call(e.query(), "IDs", ctx)) }},
			clientRead{name: name("Count = len(IDs)"), run: func(ctx context.Context) (any, error) {
				n, err := result(call(e.query(), "Count", ctx))
				if err != nil {
					return nil, err
				}
				ids, err := result(call(e.query(), "IDs", ctx))
				if err != nil {
					return nil, err
				}
				agg, err := result(call(call(e.query(), "Aggregate", ent.Count())[0], "Int", ctx))
				return [3]int{n.(int), reflect.ValueOf(ids).Len(), agg.(int)}, err
			}, check: func(p principal, v any) []string {
				if n := v.([3]int); n[0] != n[1] || n[2] != n[1] {
					return []string{fmt.Sprintf("Count %d and Aggregate(Count) %d, but %d IDs", n[0], n[2], n[1])}
				}
				return nil
			}},
			clientRead{name: name("Where(id in A).Exist"), target: "", run: func(ctx context.Context) (any, error) {
				return result(call(where(e.query(), idIn(aIDs)), "Exist", ctx))
			}, check: func(p principal, v any) []string {
				if v == true && !p.support && !p.control {
					return []string{"A's rows exist for the caller"}
				}
				if v != true && (p.control || p.support && supportBlind[e.name] == "") {
					return []string{"platform staff do not see A's rows"}
				}
				return nil
			}},
			clientRead{name: name("Where(id in A).Count"), run: func(ctx context.Context) (any, error) {
				return result(call(where(e.query(), idIn(aIDs)), "Count", ctx))
			}, check: func(p principal, v any) []string {
				if v != 0 && !p.support && !p.control {
					return []string{fmt.Sprintf("counts %v of A's rows", v)}
				}
				return nil
			}},
			clientRead{name: name("Select(id).Strings"), target: anyA, run: func(ctx context.Context) (any, error) {
				return result(call(call(e.query(), "Select", "id")[0], "Strings", ctx))
			}},
			clientRead{name: name("GroupBy(id).Strings"), target: anyA, run: func(ctx context.Context) (any, error) {
				return result(call(call(e.query(), "GroupBy", "id")[0], "Strings", ctx))
			}},
		)
		for _, id := range firstN(aIDs, maxRows) {
			cs = append(cs, clientRead{name: name("Get(%s)", id), target: string(id), notFound: true, run: func(ctx context.Context) (any, error) {
				return result(call(e.client, "Get", ctx, id))
			}})
		}
		// A filter on every column, with A's value.
		seen := map[string]bool{}
		for _, r := range aRows {
			for _, col := range columns(r) {
				if seen[col.name] {
					continue
				}
				seen[col.name] = true
				id := string(r.Elem().FieldByName("ID").Interface().(pulid.ID))
				pred := func(s *entsql.Selector) { s.Where(entsql.EQ(s.C(col.name), col.value)) }
				cs = append(cs, clientRead{name: name("Where(%s = A's)", col.name), target: id, run: func(ctx context.Context) (any, error) {
					return result(call(where(e.query(), pred), "All", ctx))
				}})
			}
		}
		// Edge predicates: A's neighbors must not select rows the caller
		// sees, and "has an edge" must agree with what the caller sees.
		cs = append(cs, s.edgePredicateReads(e, aRows[0].Type().Elem())...)
		// Every eager load and every traversal, from all rows and from A's.
		// Loads and traversals that end at a system-only entity (a user's
		// mailed tokens) are refused to everyone, the control included.
		qt := e.query().Type()
		for i := range qt.NumMethod() {
			m := qt.Method(i)
			switch {
			case strings.HasPrefix(m.Name, "With") && !strings.HasPrefix(m.Name, "WithNamed") && m.Type.NumIn() == 2 && m.Type.IsVariadic():
				toSystem := systemOnly[loadTarget(m.Type)]
				cs = append(cs, clientRead{name: name("%s().All", m.Name), target: anyA, systemOnly: toSystem, eagerLoad: toSystem,
					run: func(ctx context.Context) (any, error) {
						return result(call(call(e.query(), m.Name)[0], "All", ctx))
					}})
			case strings.HasPrefix(m.Name, "Query") && m.Type.NumIn() == 1:
				toSystem := systemOnly[queryTarget(m.Type)]
				cs = append(cs,
					clientRead{name: name("%s().All", m.Name), systemOnly: toSystem, run: func(ctx context.Context) (any, error) {
						return result(call(call(e.query(), m.Name)[0], "All", ctx))
					}},
					clientRead{name: name("Where(id in A).%s().All", m.Name), systemOnly: toSystem, run: func(ctx context.Context) (any, error) {
						return result(call(call(where(e.query(), idIn(aIDs)), m.Name)[0], "All", ctx))
					}},
				)
			}
		}
		// Traversals of the client from A's rows (no policy on the start).
		ct := e.client.Type()
		for i := range ct.NumMethod() {
			m := ct.Method(i)
			if !strings.HasPrefix(m.Name, "Query") || m.Type.NumIn() != 2 {
				continue
			}
			for _, r := range firstN(aRows, 2) {
				cs = append(cs, clientRead{name: name("client.%s(A's %s).All", m.Name, r.Elem().FieldByName("ID")), systemOnly: systemOnly[queryTarget(m.Type)],
					run: func(ctx context.Context) (any, error) {
						return result(call(call(e.client, m.Name, r)[0], "All", ctx))
					}})
			}
		}
	}
	// Noder, the client's node(id:). (Noders is left to GraphQL: outside a
	// GraphQL request it panics on an ID it cannot resolve, since entgql
	// reports those with graphql.AddError.)
	for _, e := range entitiesOf(root) {
		if systemOnly[e.name] {
			continue // see systemOnlyReads
		}
		for _, id := range firstN(s.f.aRows[e.name], maxRows) {
			cs = append(cs, clientRead{name: fmt.Sprintf("Noder(%s)", id), target: string(id), notFound: true, run: func(ctx context.Context) (any, error) {
				return root.Noder(ctx, id, ent.WithNodeType(ent.IDToType))
			}})
		}
	}
	return append(cs, s.sessionReads()...)
}

func (s *suite) runClientRead(t *testing.T, p principal, ctx context.Context, c clientRead) {
	v, err := c.run(ctx)
	if c.systemOnly {
		s.runSystemOnlyRead(t, p, c, v, err)
		return
	}
	if c.expect != nil && err == nil {
		leaks, refusals := c.expect(p, v)
		for _, x := range leaks {
			s.leak(t, p, "client "+c.name, "%s", x)
		}
		for _, x := range refusals {
			s.refusal(t, p, "client "+c.name, "%s", x)
		}
	}
	if p.control {
		s.controls++
		if err != nil {
			t.Errorf("CONTROL client %s: %v", c.name, err)
		} else if c.target != "" && !strings.Contains(mustJSON(v), `"`+c.target+`"`) {
			t.Errorf("CONTROL client %s: the superadmin does not get A's row %s: the case proves nothing", c.name, c.target)
		}
		if c.check != nil {
			for _, x := range c.check(p, v) {
				t.Errorf("CONTROL client %s: %s", c.name, x)
			}
		}
		return
	}
	s.count("client read")
	name := "client " + c.name
	if p.anonymous() {
		switch {
		case errors.Is(err, privacy.Deny):
		case s.rlsRefusal(err, v):
			s.disagree("a read without an actor gets nothing or not found instead of privacy.Deny")
		default:
			s.leak(t, p, name, "want privacy.Deny, got %v (%s)", err, mustJSON(v))
		}
		return
	}
	if !p.support {
		if x := s.secretsIn(mustJSON(v)); len(x) > 0 {
			s.leak(t, p, name, "result holds %v", x)
		}
	}
	switch {
	case err == nil:
		if c.notFound && !p.support {
			s.leak(t, p, name, "got A's row: %s", mustJSON(v))
		}
	case c.notFound && ent.IsNotFound(err):
		// Support reads A, but not the user preferences of others.
	default:
		if x := s.secretsNotIn(err.Error(), c.name); len(x) > 0 && !p.support {
			s.leak(t, p, name, "error holds %v: %v", x, err)
		}
		s.refusal(t, p, name, "unexpected error: %v", err)
	}
	if c.check != nil && err == nil {
		for _, x := range c.check(p, v) {
			if c.goPredicate && goEdgePredicatesTrusted && (!s.mode.rowSecurity || c.ownColumn) {
				s.mu.Lock()
				s.goOracles = append(s.goOracles, fmt.Sprintf("[%s] %s: %s", p.name, name, x))
				s.mu.Unlock()
				continue
			}
			s.leak(t, p, name, "%s", x)
		}
	}
}

// fieldValue is a field an update sets, with a value of its Go type.
type fieldValue struct {
	field string
	value ent.Value
}

// writeFields are the fields the update cases set, per entity.
var writeFields = map[string][]fieldValue{
	"User":         {{"display_name", "pwned"}, {"status", user.StatusSuspended}, {"platform_role", user.PlatformRoleSuperadmin}},
	"Organization": {{"name", "pwned"}, {"status", organization.StatusSuspended}},
	"Membership":   {{"title", "pwned"}, {"status", membership.StatusSuspended}},
	"Role":         {{"name", "pwned"}, {"permissions", []string{permission.OrganizationDelete}}},
	"OAuthAccount": {{"provider_email", "pwned@evil.example"}},
	"APIKey":       {{"name", "pwned"}, {"revoked_at", time.Now()}},
	"RefreshToken": {{"revoked_reason", "pwned"}, {"revoked_at", time.Now()}},
	"Session":      {{"revoked_reason", "pwned"}, {"revoked_at", time.Now()}, {"last_ip", "6.6.6.6"}, {"idle_expires_at", time.Now().Add(1000 * time.Hour)}},
	"SigningKey":   {{"verify_until", time.Now()}},
	"Activity":     {{}}, // append-only: no mutable field; an empty update
	"Preference":   {{"value", json.RawMessage(`"pwned"`)}},
	"Invitation":   {{"message", "pwned"}, {"status", invitation.StatusRevoked}, {"expires_at", time.Now().Add(1000 * time.Hour)}},
	"UserToken":    {{"used_at", time.Now()}},
}

// set applies fv to the mutation of builder b.
func set(b reflect.Value, fv fieldValue) error {
	if fv.field == "" {
		return nil
	}
	m := call(b, "Mutation")[0].Interface().(ent.Mutation)
	return m.SetField(fv.field, fv.value)
}

func (s *suite) clientWrites(t *testing.T) []clientWrite {
	f := s.f
	var ws []clientWrite
	root := s.client
	for _, e := range entitiesOf(root) {
		if notAimed[e.name] {
			continue
		}
		fields, ok := writeFields[e.name]
		if !ok {
			t.Errorf("generator: no write fields for entity %s: add it to writeFields", e.name)
			continue
		}
		if systemOnly[e.name] {
			ws = append(ws, s.systemOnlyWrites(e, fields)...)
			continue
		}
		aIDs := f.aRows[e.name]
		name := e.name
		for _, id := range firstN(aIDs, maxRows) {
			for _, fv := range fields {
				ws = append(ws, clientWrite{name: fmt.Sprintf("%s UpdateOneID(%s).Set(%s)", name, id, fv.field), given: []pulid.ID{id},
					run: func(ctx context.Context, c *ent.Client) error {
						b := call(entityOf(c, name).client, "UpdateOneID", id)[0]
						if err := set(b, fv); err != nil {
							return err
						}
						_, err := result(call(b, "Save", ctx))
						return err
					}})
			}
			ws = append(ws, clientWrite{name: fmt.Sprintf("%s DeleteOneID(%s)", name, id), given: []pulid.ID{id},
				run: func(ctx context.Context, c *ent.Client) error {
					_, err := result(call(call(entityOf(c, name).client, "DeleteOneID", id)[0], "Exec", ctx))
					return err
				}})
		}
		for _, fv := range fields {
			ws = append(ws,
				clientWrite{name: fmt.Sprintf("%s Update().Where(id in A).Set(%s)", name, fv.field), given: aIDs,
					run: func(ctx context.Context, c *ent.Client) error {
						b := where(call(entityOf(c, name).client, "Update")[0], idIn(aIDs))
						if err := set(b, fv); err != nil {
							return err
						}
						n, err := result(call(b, "Save", ctx))
						if err == nil && n.(int) != 0 {
							return fmt.Errorf("LEAK: updated %d of A's rows", n)
						}
						return err
					}},
				clientWrite{name: fmt.Sprintf("%s Update().Set(%s) on every row", name, fv.field),
					run: func(ctx context.Context, c *ent.Client) error {
						b := call(entityOf(c, name).client, "Update")[0]
						if err := set(b, fv); err != nil {
							return err
						}
						_, err := result(call(b, "Save", ctx))
						return err
					}},
			)
		}
		ws = append(ws,
			clientWrite{name: name + " Delete().Where(id in A)", given: aIDs, run: func(ctx context.Context, c *ent.Client) error {
				n, err := result(call(where(call(entityOf(c, name).client, "Delete")[0], idIn(aIDs)), "Exec", ctx))
				if err == nil && n.(int) != 0 {
					return fmt.Errorf("LEAK: deleted %d of A's rows", n)
				}
				return err
			}},
			clientWrite{name: name + " Delete() every row", run: func(ctx context.Context, c *ent.Client) error {
				_, err := result(call(call(entityOf(c, name).client, "Delete")[0], "Exec", ctx))
				return err
			}},
		)
		ws = append(ws, s.edgeWrites(e)...)
	}
	ws = append(ws, s.createWrites()...)
	ws = append(ws, s.ownRowWrites(t)...)
	ws = append(ws, s.sessionWrites()...)
	return ws
}

// ownRowWrites are writes of the own rows of the member of A and B: of A
// (its membership and session there), which nobody outside A may write, it
// acting in B included; and self-service writes of B's member's own rows
// that a key narrowed to member:read does not cover (strict: nothing may
// change), with the minting of personal keys with scopes the owner does
// not hold.
func (s *suite) ownRowWrites(t *testing.T) []clientWrite {
	f := s.f
	sys := sysCtx()
	memSharedA := f.memberships[f.orgA][f.shared]
	tokSharedA := s.client.RefreshToken.Query().Where(refreshtoken.UserID(f.shared), refreshtoken.OrganizationID(f.orgA)).OnlyIDX(sys)
	var ws []clientWrite
	add := func(w clientWrite) { ws = append(ws, w) }
	add(clientWrite{name: "Membership DeleteOneID of the shared member's membership of A", given: []pulid.ID{memSharedA},
		run: func(ctx context.Context, c *ent.Client) error { return c.Membership.DeleteOneID(memSharedA).Exec(ctx) }})
	add(clientWrite{name: "Membership Delete of the caller's own memberships", run: func(ctx context.Context, c *ent.Client) error {
		_, err := c.Membership.Delete().Where(membership.UserID(actorOf(ctx))).Exec(ctx)
		return err
	}, only: func(p principal) bool { return p.actor != nil && p.actor.UserID() == f.shared }})
	add(clientWrite{name: "Membership UpdateOneID of the shared member's title in A", given: []pulid.ID{memSharedA},
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Membership.UpdateOneID(memSharedA).SetTitle("changed").SetDepartment("changed").Exec(ctx)
		}})
	add(clientWrite{name: "RefreshToken UpdateOneID revoking the shared member's session in A", given: []pulid.ID{tokSharedA},
		run: func(ctx context.Context, c *ent.Client) error {
			return c.RefreshToken.UpdateOneID(tokSharedA).SetRevokedAt(time.Now()).Exec(ctx)
		}})
	add(clientWrite{name: "RefreshToken Update revoking the caller's own sessions", run: func(ctx context.Context, c *ent.Client) error {
		_, err := c.RefreshToken.Update().Where(refreshtoken.UserID(actorOf(ctx))).SetRevokedAt(time.Now()).Save(ctx)
		return err
	}, only: func(p principal) bool { return p.actor != nil && p.actor.UserID() == f.shared }})
	sesSharedA := f.sessions[f.orgA][f.shared]
	never := func(principal) bool { return false }
	add(clientWrite{name: "Session UpdateOneID revoking the shared member's session of A", given: []pulid.ID{sesSharedA}, allowed: never,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(sesSharedA).SetRevokedAt(time.Now()).Exec(ctx)
		}})
	add(clientWrite{name: "Session DeleteOneID of the shared member's session of A", given: []pulid.ID{sesSharedA}, allowed: never,
		run: func(ctx context.Context, c *ent.Client) error { return c.Session.DeleteOneID(sesSharedA).Exec(ctx) }})
	add(clientWrite{name: "Session Update revoking the caller's own sessions (those of B)", run: func(ctx context.Context, c *ent.Client) error {
		_, err := c.Session.Update().Where(entsession.UserID(actorOf(ctx))).SetRevokedAt(time.Now()).Save(ctx)
		return err
	}, only: func(p principal) bool { return p.actor != nil && p.actor.UserID() == f.shared }, allowed: func(principal) bool { return true }})

	// Self-service with a narrow key.
	narrow := func(p principal) bool { return p.narrow }
	own := f.memberships[f.orgB][f.memberB]
	tok := s.client.RefreshToken.Query().Where(refreshtoken.UserID(f.memberB)).FirstIDX(sys)
	ses := f.sessions[f.orgB][f.memberB]
	pref := s.client.Preference.Query().Where(preference.UserID(f.memberB)).FirstIDX(sys)
	self := []clientWrite{
		{name: "leaving: Membership DeleteOneID of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.Membership.DeleteOneID(own).Exec(ctx)
		}},
		{name: "leaving: Membership Delete of one's own", run: func(ctx context.Context, c *ent.Client) error {
			_, err := c.Membership.Delete().Where(membership.UserID(f.memberB)).Exec(ctx)
			return err
		}},
		{name: "RefreshToken UpdateOneID revoking one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.RefreshToken.UpdateOneID(tok).SetRevokedAt(time.Now()).Exec(ctx)
		}},
		{name: "RefreshToken DeleteOneID of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.RefreshToken.DeleteOneID(tok).Exec(ctx)
		}},
		{name: "Session UpdateOneID revoking one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(ses).SetRevokedAt(time.Now()).Exec(ctx)
		}},
		{name: "Session Update revoking one's own", run: func(ctx context.Context, c *ent.Client) error {
			_, err := c.Session.Update().Where(entsession.UserID(f.memberB)).SetRevokedAt(time.Now()).Save(ctx)
			return err
		}},
		{name: "Session UpdateOneID switching one's own to no organization", run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(ses).ClearOrganizationID().Exec(ctx)
		}},
		{name: "Session DeleteOneID of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.DeleteOneID(ses).Exec(ctx)
		}},
		{name: "Session create of one's own", run: func(ctx context.Context, c *ent.Client) error {
			exp := time.Now().Add(time.Hour)
			return c.Session.Create().SetUserID(f.memberB).SetLastUsedAt(time.Now()).SetIdleExpiresAt(exp).SetExpiresAt(exp).Exec(ctx)
		}},
		{name: "Preference UpdateOneID of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.Preference.UpdateOneID(pref).SetValue(json.RawMessage(`2`)).Exec(ctx)
		}},
		{name: "Preference create of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.Preference.Create().SetScope("user").SetUserID(f.memberB).SetKey("mine").SetValue(json.RawMessage(`1`)).Exec(ctx)
		}},
		{name: "APIKey UpdateOneID revoking one's own other key", run: func(ctx context.Context, c *ent.Client) error {
			return c.APIKey.UpdateOneID(f.memberBKeyRow.ID).SetRevokedAt(time.Now()).Exec(ctx)
		}},
		{name: "APIKey create of a personal key", run: func(ctx context.Context, c *ent.Client) error {
			_, _, err := apikey.Create(ctx, c, apikey.Params{Name: "more", OwnerID: f.memberB, Scopes: []string{permission.MemberRead}})
			return err
		}},
		{name: "User UpdateOneID of one's own profile", run: func(ctx context.Context, c *ent.Client) error {
			return c.User.UpdateOneID(f.memberB).SetDisplayName("changed").Exec(ctx)
		}},
		{name: "OAuthAccount create of one's own", run: func(ctx context.Context, c *ent.Client) error {
			return c.OAuthAccount.Create().SetUserID(f.memberB).SetProvider("gitlab").SetProviderUserID("mine").Exec(ctx)
		}},
	}
	for _, w := range self {
		w.name = "self-service with a member:read key: " + w.name
		w.strict, w.only = true, narrow
		add(w)
	}
	// Minting personal keys with scopes the owner does not hold.
	for _, scope := range []string{permission.PlatformRoleGrant, permission.OrganizationDelete} {
		add(clientWrite{name: "APIKey create of a personal key with " + scope, strict: true,
			run: func(ctx context.Context, c *ent.Client) error {
				_, _, err := apikey.Create(ctx, c, apikey.Params{Name: "mint", OwnerID: actorOf(ctx), Scopes: []string{scope}})
				// A credential that may create personal keys is told why
				// (ErrExceedsOwn); others are refused before that.
				a := actor.FromContext(ctx)
				mayMint := a.OrganizationID() == "" && a.HasScope(permission.APIKeyCreate)
				if err != nil && !s.mode.policiesOff && (!errors.Is(err, privacy.Deny) || mayMint && !errors.Is(err, authz.ErrExceedsOwn)) {
					return fmt.Errorf("LEAK: want privacy.Deny with authz.ErrExceedsOwn, got %w", err)
				}
				return err
			},
			only: func(p principal) bool {
				// Nobody of the suite holds these but the superadmin (and
				// B's owner holds organization:delete in B).
				return p.actor != nil && p.actor.UserID() != f.superadmin && (scope == permission.PlatformRoleGrant || p.actor.UserID() != f.ownerB)
			}})
	}
	if len(ws) == 0 {
		t.Fatal("generator: no own-row writes")
	}
	return ws
}

// edgeWrites calls every edge write method of the entity's update builders:
// on A's row with A's and B's rows, and on B's row with A's rows.
func (s *suite) edgeWrites(e entityRef) []clientWrite {
	var ws []clientWrite
	f := s.f
	name := e.name
	aBase, bBase := f.aRows[name][0], f.bRows[name][0]
	for _, bulk := range []bool{false, true} {
		var bt reflect.Type
		if bulk {
			bt = call(e.client, "Update")[0].Type()
		} else {
			bt = call(e.client, "UpdateOneID", aBase)[0].Type()
		}
		for _, m := range edgeMethods(bt) {
			type variant struct {
				label string
				base  pulid.ID
				args  []pulid.ID
			}
			var vs []variant
			switch {
			case m.clear:
				vs = []variant{{"A's row", aBase, nil}}
			default:
				n := 2
				if m.unique {
					n = 1
				}
				vs = []variant{
					{"A's row, A's " + m.target, aBase, firstN(f.rowsOf(m.target, false), n)},
					{"A's row, B's " + m.target, aBase, firstN(f.rowsOf(m.target, true), n)},
					{"B's row, A's " + m.target, bBase, firstN(f.rowsOf(m.target, false), n)},
				}
			}
			for _, v := range vs {
				kind := "UpdateOneID"
				if bulk {
					kind = "Update().Where(id)"
				}
				ws = append(ws, clientWrite{name: fmt.Sprintf("%s %s(%s).%s(%s)", name, kind, v.label, m.name, strings.Trim(fmt.Sprint(v.args), "[]")),
					given: append([]pulid.ID{v.base}, v.args...),
					run: func(ctx context.Context, c *ent.Client) error {
						ec := entityOf(c, name)
						var b reflect.Value
						if bulk {
							b = where(call(ec.client, "Update")[0], idIn([]pulid.ID{v.base}))
						} else {
							b = call(ec.client, "UpdateOneID", v.base)[0]
						}
						var args []any
						for _, r := range entityOf(c, m.target).rows(v.args) {
							args = append(args, r)
						}
						b = call(b, m.name, args...)[0]
						_, err := result(call(b, "Save", ctx))
						return err
					}})
			}
		}
	}
	return ws
}

// createWrites create rows aimed at A: in A's organizations, for A's users,
// or linked to A's rows.
func (s *suite) createWrites() []clientWrite {
	f := s.f
	exp := time.Now().Add(time.Hour)
	// rtk is a refresh token of user u in session family.
	rtk := func(c *ent.Client, u, family pulid.ID) *ent.RefreshTokenCreate {
		return c.RefreshToken.Create().SetUserID(u).SetFamilyID(family).SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(exp)
	}
	// ownSession opens, as the system, a session of u of no organization
	// for the token a case creates: the case is about the token.
	ownSession := func(c *ent.Client, u pulid.ID) pulid.ID {
		return c.Session.Create().SetUserID(u).SetLastUsedAt(exp).SetIdleExpiresAt(exp).SetExpiresAt(exp).SaveX(sysCtx()).ID
	}
	// self is the user a principal acts as.
	self := func(ctx context.Context) pulid.ID {
		if a := actorOf(ctx); a != "" {
			return a
		}
		return f.memberB
	}
	aToken := f.aRows["RefreshToken"][0]
	memA := f.memberships[f.orgA][f.memberA]
	var ws []clientWrite
	add := func(name string, given []pulid.ID, run func(ctx context.Context, c *ent.Client) error) {
		ws = append(ws, clientWrite{name: "create " + name, given: given, run: run})
	}
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("Organization under "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Organization.Create().SetName("Evil").SetSlug("evil-child").SetParentID(org).Exec(ctx)
		})
		add("Membership of self in "+string(org)+" as owner", []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Membership.Create().SetOrganizationID(org).SetUserID(self(ctx)).AddRoleIDs(permission.OwnerRoleID).Exec(ctx)
		})
		add("Membership of a user of no organization in "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Membership.Create().SetOrganizationID(org).SetUserID(f.loner).AddRoleIDs(permission.MemberRoleID).Exec(ctx)
		})
		add("Role in "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Role.Create().SetOrganizationID(org).SetKey("evil_role").SetName("Evil").SetPermissions([]string{permission.MemberRead}).Exec(ctx)
		})
		add("APIKey of "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.APIKey.Create().SetOrganizationID(org).SetUserID(self(ctx)).SetName("evil").SetPrefix("evil" + string(pulid.New("key"))[20:]).
				SetSecretHash(secret.DigestOf("evil")).SetScopes([]string{permission.MemberRead}).Exec(ctx)
		})
		add("RefreshToken of self active in "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return rtk(c, self(ctx), ownSession(c, self(ctx))).SetOrganizationID(org).Exec(ctx)
		})
		add("Preference of "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Preference.Create().SetScope("organization").SetOrganizationID(org).SetKey("evil").SetValue(json.RawMessage(`1`)).Exec(ctx)
		})
		add("Activity in "+string(org), []pulid.ID{org}, func(ctx context.Context, c *ent.Client) error {
			return c.Activity.Create().SetOrganizationID(org).SetActorType("system").SetVerb("evil.done").Exec(ctx)
		})
	}
	for _, u := range []pulid.ID{f.ownerA, f.memberA} {
		add("APIKey, personal, of "+string(u), []pulid.ID{u}, func(ctx context.Context, c *ent.Client) error {
			return c.APIKey.Create().SetUserID(u).SetName("evil").SetPrefix("evil" + string(pulid.New("key"))[20:]).
				SetSecretHash(secret.DigestOf("evil")).SetScopes([]string{"*"}).Exec(ctx)
		})
		add("RefreshToken of "+string(u)+" in its session", []pulid.ID{u}, func(ctx context.Context, c *ent.Client) error {
			return rtk(c, u, f.sessions[f.orgA][u]).SetOrganizationID(f.orgA).Exec(ctx)
		})
		add("OAuthAccount of "+string(u), []pulid.ID{u}, func(ctx context.Context, c *ent.Client) error {
			return c.OAuthAccount.Create().SetUserID(u).SetProvider("evil").SetProviderUserID(string(pulid.New("oac"))).Exec(ctx)
		})
		add("Preference of "+string(u), []pulid.ID{u}, func(ctx context.Context, c *ent.Client) error {
			return c.Preference.Create().SetScope("user").SetUserID(u).SetKey("evil").SetValue(json.RawMessage(`1`)).Exec(ctx)
		})
	}
	add("User with the email of A's owner", nil, func(ctx context.Context, c *ent.Client) error {
		return c.User.Create().SetEmail("owner@alphasecret.example").Exec(ctx)
	})
	// Adding A's user to B is allowed to whoever may invite in B (users
	// are not tenant rows): it shows as an observation.
	add("Membership of A's member in B", []pulid.ID{f.memberA}, func(ctx context.Context, c *ent.Client) error {
		return c.Membership.Create().SetOrganizationID(f.orgB).SetUserID(f.memberA).AddRoleIDs(permission.MemberRoleID).Exec(ctx)
	})
	add("Membership in B with A's custom role", []pulid.ID{f.roleA}, func(ctx context.Context, c *ent.Client) error {
		return c.Membership.Create().SetOrganizationID(f.orgB).SetUserID(f.loner).AddRoleIDs(f.roleA).Exec(ctx)
	})
	add("Membership in B managed by A's member", []pulid.ID{memA}, func(ctx context.Context, c *ent.Client) error {
		return c.Membership.Create().SetOrganizationID(f.orgB).SetUserID(f.loner).AddRoleIDs(permission.MemberRoleID).SetManagerID(memA).Exec(ctx)
	})
	add("Membership in B reporting to A's member", []pulid.ID{memA}, func(ctx context.Context, c *ent.Client) error {
		return c.Membership.Create().SetOrganizationID(f.orgB).SetUserID(f.loner).AddRoleIDs(permission.MemberRoleID).AddReportIDs(memA).Exec(ctx)
	})
	add("RefreshToken of self under A's token", []pulid.ID{aToken}, func(ctx context.Context, c *ent.Client) error {
		return rtk(c, self(ctx), ownSession(c, self(ctx))).SetParentID(aToken).Exec(ctx)
	})
	add("Organization with A's child as a child", []pulid.ID{f.orgAChild}, func(ctx context.Context, c *ent.Client) error {
		return c.Organization.Create().SetName("Evil").SetSlug("evil-parent").AddChildIDs(f.orgAChild).Exec(ctx)
	})
	add("Organization taking A's memberships", f.aRows["Membership"], func(ctx context.Context, c *ent.Client) error {
		return c.Organization.Create().SetName("Evil").SetSlug("evil-taker").AddMembershipIDs(f.aRows["Membership"]...).AddRoleIDs(f.roleA).Exec(ctx)
	})
	add("User taking A's memberships and keys", nil, func(ctx context.Context, c *ent.Client) error {
		return c.User.Create().SetEmail("taker@evil.example").AddMembershipIDs(f.aRows["Membership"]...).AddAPIKeyIDs(f.aRows["APIKey"]...).Exec(ctx)
	})
	return ws
}

// actorOf returns the user the context acts as, or "".
func actorOf(ctx context.Context) pulid.ID {
	if a := actor.FromContext(ctx); a != nil {
		return a.UserID()
	}
	return ""
}

func (s *suite) runClientWrite(t *testing.T, p principal, base snapshot, w clientWrite) {
	s.count("client write")
	ctx := s.ctxOf(t, p)
	bg := context.Background()
	tx, err := s.client.Tx(bg)
	if err != nil {
		t.Fatalf("tx: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	opErr := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return w.run(ctx, tx.Client())
	}()
	// The system actor: under row-level security, a snapshot without an
	// actor would see nothing.
	after, snapErr := takeSnapshot(sysCtx(), tx)
	name := "client " + w.name
	if w.allowed != nil && !p.anonymous() {
		switch allowed := w.allowed(p); {
		case allowed && opErr != nil:
			s.refusal(t, p, name, "the policy allows it, got %v", opErr)
		case !allowed && opErr == nil && s.mode.policiesOff:
			// Whether it changed anything is checked below.
			s.disagree("a client write the policy refuses returns no error (it matches no row it may write)")
		case !allowed && opErr == nil:
			s.leak(t, p, name, "the write succeeded; the policy refuses it")
		}
	}
	if p.anonymous() && !errors.Is(opErr, privacy.Deny) {
		if s.mode.policiesOff {
			s.disagree("a client write without an actor is refused by row-level security or matches nothing, not privacy.Deny")
		} else {
			s.leak(t, p, name, "want privacy.Deny, got %v", opErr)
		}
	}
	if opErr != nil {
		if strings.HasPrefix(opErr.Error(), "LEAK") {
			s.leak(t, p, name, "%v", opErr)
		}
		if strings.HasPrefix(opErr.Error(), "panic") {
			t.Errorf("[%s] %s: %v", p.name, name, opErr)
		}
		given := ""
		for _, id := range w.given {
			given += string(id) + " "
		}
		if x := s.secretsNotIn(opErr.Error(), given+w.name); len(x) > 0 && !p.support {
			s.leak(t, p, name, "error holds %v: %v", x, opErr)
		}
	}
	if snapErr != nil {
		if s.db.Dialect == dialect.Postgres && opErr != nil && strings.Contains(snapErr.Error(), "25P02") {
			s.mu.Lock()
			s.pgAbort++
			s.mu.Unlock()
			t.Logf("[%s] %s failed inside PostgreSQL (%v); the transaction cannot be inspected", p.name, name, opErr)
			return
		}
		t.Fatalf("snapshot after %s: %v (op: %v)", name, snapErr, opErr)
	}
	v, obs := s.violations(base, after, w.strict)
	if len(v) > 0 {
		s.leak(t, p, name, "the database changed (op error: %v):\n  %s", opErr, joinLines(v))
	}
	if len(obs) > 0 {
		s.observe(t, p, name, obs)
	}
}

// edgePredicateReads filter entity e through each of its edges (entql, as
// the generated Filter does): with A's neighbors, and with the mere
// existence of a neighbor.
func (s *suite) edgePredicateReads(e entityRef, rowT reflect.Type) []clientRead {
	var cs []clientRead
	et, ok := rowT.FieldByName("Edges")
	if !ok {
		return nil // an entity without edges (Activity keeps IDs only)
	}
	for i := range et.Type.NumField() {
		ef := et.Type.Field(i)
		edge, _, _ := strings.Cut(ef.Tag.Get("json"), ",")
		if !ef.IsExported() || edge == "" {
			continue
		}
		tt := ef.Type
		if tt.Kind() == reflect.Slice {
			tt = tt.Elem()
		}
		var aIDs []any
		for _, id := range s.f.rowsOf(tt.Elem().Name(), false) {
			aIDs = append(aIDs, string(id))
		}
		// A caller reads no row of a system-only entity: an edge to one
		// has no neighbor it may see.
		toSystem := systemOnly[tt.Elem().Name()]
		filtered := func(p entql.P) reflect.Value {
			q := e.query()
			call(call(q, "Filter")[0], "Where", p)
			return q
		}
		cs = append(cs, clientRead{name: fmt.Sprintf("%s Filter(has %s with A's)", e.name, edge), goPredicate: true,
			run: func(ctx context.Context) (any, error) {
				return result(call(filtered(entql.HasEdgeWith(edge, entql.FieldIn("id", aIDs...))), "IDs", ctx))
			},
			check: func(p principal, v any) []string {
				if n := reflect.ValueOf(v).Len(); n > 0 && !p.support && !p.control {
					return []string{fmt.Sprintf("rows %v are returned because of A's rows behind edge %s", v, edge)}
				}
				return nil
			}})
		_, fk := rowT.FieldByName(ef.Name + "ID")
		fk = fk && ef.Type.Kind() == reflect.Pointer
		cs = append(cs, clientRead{name: fmt.Sprintf("%s Filter(has %s) against what the caller sees", e.name, edge), goPredicate: true, ownColumn: fk,
			run: func(ctx context.Context) (any, error) {
				with, err := result(call(filtered(entql.HasEdge(edge)), "IDs", ctx))
				if err != nil {
					return nil, err
				}
				without, err := result(call(filtered(entql.Not(entql.HasEdge(edge))), "IDs", ctx))
				if err != nil {
					return nil, err
				}
				if toSystem {
					all, err := result(call(e.query(), "IDs", ctx))
					if err != nil {
						return nil, err
					}
					return [4][]string{strs(with), nil, strs(without), strs(all)}, nil
				}
				rows, err := result(call(call(e.query(), "With"+ef.Name)[0], "All", ctx))
				if err != nil {
					return nil, err
				}
				var want, wantNot []string
				rv := reflect.ValueOf(rows)
				for j := range rv.Len() {
					r := rv.Index(j).Elem()
					id := fmt.Sprint(r.FieldByName("ID").Interface())
					if n := r.FieldByName("Edges").FieldByName(ef.Name); (n.Kind() == reflect.Slice && n.Len() > 0) || (n.Kind() == reflect.Pointer && !n.IsNil()) {
						want = append(want, id)
					} else {
						wantNot = append(wantNot, id)
					}
				}
				return [4][]string{strs(with), want, strs(without), wantNot}, nil
			},
			check: func(p principal, v any) []string {
				x := v.([4][]string)
				var out []string
				if !sameSet(x[0], x[1]) {
					out = append(out, fmt.Sprintf("has %s returns %v, but the caller sees neighbors on %v only", edge, x[0], x[1]))
				}
				if !sameSet(x[2], x[3]) {
					out = append(out, fmt.Sprintf("not has %s returns %v, but the caller sees no neighbor on %v", edge, x[2], x[3]))
				}
				if p.support || p.control {
					return nil // support does not see others' user preferences
				}
				return out
			}})
	}
	return cs
}

func strs(v any) []string {
	var out []string
	rv := reflect.ValueOf(v)
	for i := range rv.Len() {
		out = append(out, fmt.Sprint(rv.Index(i).Interface()))
	}
	return out
}
