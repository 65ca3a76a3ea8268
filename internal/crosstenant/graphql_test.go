package crosstenant_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// --- HTTP ---------------------------------------------------------------

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { c, _ := e.Extensions["code"].(string); return c }

type gqlResp struct {
	status  int
	raw     []byte
	hasData bool
	data    json.RawMessage
	errors  []gqlError
}

// postAs sends one GraphQL request as p, in p's active organization
// unless header names one.
func (s *suite) postAs(p principal, query string, vars map[string]any, header map[string]string) (gqlResp, error) {
	if p.org != "" && header["X-Organization-ID"] == "" {
		h := map[string]string{"X-Organization-ID": string(p.org)}
		for k, v := range header {
			h[k] = v
		}
		header = h
	}
	return s.post(p.key, query, vars, header)
}

// post sends one GraphQL request with key ("" for none).
func (s *suite) post(key, query string, vars map[string]any, header map[string]string) (gqlResp, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return gqlResp{}, err
	}
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return gqlResp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return gqlResp{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return gqlResp{}, err
	}
	r := gqlResp{status: resp.StatusCode, raw: raw}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return r, fmt.Errorf("response is not a JSON object: %w: %s", err, raw)
	}
	if d, ok := top["data"]; ok && string(d) != "null" {
		r.hasData, r.data = true, d
	}
	if e, ok := top["errors"]; ok {
		if err := json.Unmarshal(e, &r.errors); err != nil {
			return r, fmt.Errorf("decoding errors: %w: %s", err, raw)
		}
	}
	return r, nil
}

func decode(raw []byte) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	_ = d.Decode(&v)
	return v
}

// --- the schema ------------------------------------------------------------

// schemaInfo reads what the API offers from the executable schema.
type schemaInfo struct {
	*ast.Schema
}

type edgeInfo struct {
	name   string
	target string
	conn   bool // a Relay connection (else an object or a list of objects)
}

type rootInfo struct {
	field  string
	target string
	def    *ast.FieldDefinition
}

func named(t *ast.Type) string {
	for t.Elem != nil {
		t = t.Elem
	}
	return t.NamedType
}

func (si schemaInfo) isEntity(name string) bool {
	d := si.Types[name]
	return d != nil && d.Kind == ast.Object && slices.Contains(d.Interfaces, "Node")
}

// connTarget returns the node type of a connection type, or "".
func (si schemaInfo) connTarget(name string) string {
	d := si.Types[name]
	if d == nil || d.Kind != ast.Object || !strings.HasSuffix(name, "Connection") {
		return ""
	}
	edges := d.Fields.ForName("edges")
	if edges == nil {
		return ""
	}
	node := si.Types[named(edges.Type)].Fields.ForName("node")
	if node == nil {
		return ""
	}
	return named(node.Type)
}

// leaves returns the scalar and enum fields of an object type that take
// no arguments.
func (si schemaInfo) leaves(typ string) []string {
	var out []string
	for _, f := range si.Types[typ].Fields {
		if strings.HasPrefix(f.Name, "__") || len(f.Arguments) > 0 {
			continue
		}
		if k := si.Types[named(f.Type)].Kind; k == ast.Scalar || k == ast.Enum {
			out = append(out, f.Name)
		}
	}
	return out
}

// edges returns the fields of an entity that lead to other entities.
func (si schemaInfo) edges(typ string) []edgeInfo {
	var out []edgeInfo
	for _, f := range si.Types[typ].Fields {
		n := named(f.Type)
		if t := si.connTarget(n); t != "" {
			out = append(out, edgeInfo{name: f.Name, target: t, conn: true})
		} else if si.isEntity(n) {
			out = append(out, edgeInfo{name: f.Name, target: n})
		}
	}
	return out
}

// roots returns the root connection queries with a where argument.
func (si schemaInfo) roots() []rootInfo {
	var out []rootInfo
	for _, f := range si.Query.Fields {
		if t := si.connTarget(named(f.Type)); t != "" && f.Arguments.ForName("where") != nil {
			out = append(out, rootInfo{field: f.Name, target: t, def: f})
		}
	}
	return out
}

// sel selects the leaves of typ and, depth levels down, its edges; at the
// last level edges select their IDs only.
func (si schemaInfo) sel(typ string, depth int) string {
	return strings.Join(si.selParts(typ, depth), " ")
}

// selParts is sel as a list of top-level fields.
func (si schemaInfo) selParts(typ string, depth int) []string {
	parts := si.leaves(typ)
	for _, e := range si.edges(typ) {
		inner := "id"
		if depth > 0 {
			inner = si.sel(e.target, depth-1)
		}
		if e.conn {
			parts = append(parts, e.name+" { totalCount edges { node { "+inner+" } } }")
		} else {
			parts = append(parts, e.name+" { "+inner+" }")
		}
	}
	return parts
}

// fragment selects typ in a node query, its fields aliased by type so that
// fields of the same name and different types do not conflict.
func (si schemaInfo) fragment(typ string) string {
	parts := si.selParts(typ, 0)
	for i, p := range parts {
		parts[i] = typ + "_" + strings.Fields(p)[0] + ": " + p
	}
	return "... on " + typ + " { " + strings.Join(parts, " ") + " }"
}

// rootQuery queries root r with every argument as a variable.
func rootQuery(r rootInfo, nodeSel string) string {
	var decl, args []string
	for _, a := range r.def.Arguments {
		decl = append(decl, "$"+a.Name+": "+a.Type.String())
		args = append(args, a.Name+": $"+a.Name)
	}
	return fmt.Sprintf("query(%s) { r: %s(%s) { totalCount edges { cursor node { %s } } } }",
		strings.Join(decl, ", "), r.field, strings.Join(args, ", "), nodeSel)
}

// --- read cases ------------------------------------------------------------

type readCase struct {
	name   string
	query  string
	vars   map[string]any
	header map[string]string
	// targets are A's IDs the control must see (one of them is enough).
	targets []string
	// nodeLookup: node or nodes of A's rows, which are NOT_FOUND to callers
	// who cannot see them (README).
	nodeLookup bool
	// refused is set when the request is expected to be refused whole.
	refused bool
	// noTwin skips the twin comparison: range filters (GT, LT...) select
	// different rows of the caller's own for different bounds.
	noTwin bool
	// check adds expectations; it returns leaks and refusals.
	check func(p principal, r gqlResp) (leaks, refusals []string)
	// everyone runs the case as an adversary for the control superadmin
	// too (what no caller may reach: the system's rows).
	everyone bool
	// parts are the cases batched into this request (see batch).
	parts []part
}

func (s *suite) runReads(t *testing.T, cases []readCase) {
	t.Helper()
	type job struct {
		c readCase
		p principal
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.runRead(t, j.c, j.p)
			}
		}()
	}
	for _, c := range cases {
		for _, p := range append(slices.Clone(s.principals), s.control) {
			if p.org != "" && c.header["X-Organization-ID"] != "" {
				continue // the case asks for another active organization than the principal's
			}
			jobs <- job{c, p}
		}
	}
	close(jobs)
	wg.Wait()
}

// part is one case of a request: the whole answer (alias "") or one alias
// of a batch.
type part struct {
	alias string
	c     readCase
}

// slice returns the data and errors of alias in r ("" for all of it).
func (r gqlResp) slice(alias string) (json.RawMessage, []gqlError) {
	if alias == "" {
		return r.data, r.errors
	}
	var d map[string]json.RawMessage
	_ = json.Unmarshal(r.data, &d)
	var errs []gqlError
	for _, e := range r.errors {
		if len(e.Path) > 0 && e.Path[0] == alias {
			errs = append(errs, e)
		}
	}
	return d[alias], errs
}

func (s *suite) runRead(t *testing.T, c readCase, p principal) {
	parts := c.parts
	if len(parts) == 0 {
		parts = []part{{c: c}}
	}
	r, err := s.postAs(p, c.query, c.vars, c.header)
	if err != nil {
		t.Errorf("[%s] %s: %v", p.name, c.name, err)
		return
	}
	if p.control && !c.everyone {
		for _, pt := range parts {
			s.mu.Lock()
			s.controls++
			s.mu.Unlock()
			data, errs := r.slice(pt.alias)
			if len(errs) > 0 {
				t.Errorf("CONTROL %s: errors %s", pt.c.name, mustJSON(errs))
			}
			if len(pt.c.targets) > 0 && !slices.ContainsFunc(pt.c.targets, func(id string) bool { return bytes.Contains(data, []byte(`"`+id+`"`)) }) {
				t.Errorf("CONTROL %s: the superadmin does not see the A row it aims at (%v): the case proves nothing\nvars %s\n%s", pt.c.name, pt.c.targets, mustJSON(pt.c.vars), firstN(r.raw, 600))
			}
		}
		return
	}
	for range parts {
		s.count("graphql read")
	}
	// An error of the whole request (no path) refuses every case of it.
	for _, e := range r.errors {
		if len(e.Path) == 0 && !c.refused && !p.anonymous() {
			s.refusal(t, p, c.name, "the request was refused whole: %s %s", e.code(), e.Message)
		}
	}
	if p.anonymous() {
		if r.status != http.StatusUnauthorized || r.hasData || len(r.errors) != 1 || r.errors[0].code() != graph.CodeUnauthenticated {
			s.leak(t, p, c.name, "want HTTP 401 UNAUTHENTICATED without data, got %d: %s", r.status, r.raw)
		}
		return
	}
	// The same request with A's IDs and strings replaced by unknown ones
	// must get the same answer.
	var twin *gqlResp
	if !p.support && slices.ContainsFunc(parts, func(pt part) bool { return !pt.c.noTwin }) {
		vars, okV := s.twin(c.vars)
		header, okH := s.twin(c.header)
		if okV || okH {
			tv, _ := vars.(map[string]any)
			if !okV {
				tv = c.vars
			}
			th := c.header
			if okH {
				th = map[string]string{}
				for k, v := range header.(map[string]any) {
					th[k] = v.(string)
				}
			}
			rt, err := s.postAs(p, c.query, tv, th)
			if err != nil {
				t.Errorf("[%s] %s (twin): %v", p.name, c.name, err)
			}
			twin = &rt
			if r.status != rt.status {
				s.leak(t, p, c.name, "the answer depends on A's data: HTTP %d, and %d with unknown values", r.status, rt.status)
			}
		}
	}
	request := c.query + mustJSON(c.vars) + mustJSON(c.header)
	for _, pt := range parts {
		data, errs := r.slice(pt.alias)
		name := pt.c.name
		if !p.support {
			if x := s.secretsIn(string(data)); len(x) > 0 {
				s.leak(t, p, name, "data holds %v\nvars %s\n%s", x, mustJSON(pt.c.vars), data)
			}
			for _, e := range errs {
				if x := s.secretsNotIn(e.Message+mustJSON(e.Extensions), request); len(x) > 0 {
					s.leak(t, p, name, "error holds %v: %s", x, e.Message)
				}
			}
		}
		// totalCount counts the whole connection; with a cursor the
		// page is only part of it.
		_, after := pt.c.vars["after"]
		_, before := pt.c.vars["before"]
		if bad := totalCountMismatch(decode(data), ""); len(bad) > 0 && !after && !before {
			s.leak(t, p, name, "totalCount counts rows the caller does not get: %v", bad)
		}
		for _, e := range errs {
			// NOT_FOUND is how a row out of reach shows (node, or a
			// non-null edge to a row the caller's scopes do not cover).
			if !pt.c.refused && e.code() != graph.CodeNotFound {
				s.refusal(t, p, name, "unexpected error %s: %s", e.code(), e.Message)
			}
		}
		if pt.c.nodeLookup && !p.support && !slices.ContainsFunc(errs, func(e gqlError) bool { return e.code() == graph.CodeNotFound }) {
			s.refusal(t, p, name, "want NOT_FOUND for a row out of reach, got %s", data)
		}
		if _, changed := s.twin(pt.c.vars); twin != nil && !pt.c.noTwin && (changed || c.header != nil) {
			td, terrs := twin.slice(pt.alias)
			a := s.normalize([]byte(mustJSON(map[string]any{"data": data, "errors": errs})))
			b := s.normalize([]byte(mustJSON(map[string]any{"data": td, "errors": terrs})))
			if a != b {
				s.leak(t, p, name, "the answer depends on A's data:\n  with A's values: %s\n  with unknown values: %s", a, b)
			}
		}
	}
	if c.check != nil {
		leaks, refusals := c.check(p, r)
		for _, l := range leaks {
			s.leak(t, p, c.name, "%s", l)
		}
		for _, l := range refusals {
			s.refusal(t, p, c.name, "%s", l)
		}
	}
}

var varRE = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`)

// batch merges cases of the form "query(DECLS) { r: FIELD }" into requests
// of several aliases, each still checked (and counted) as its own case;
// cases with their own checks or headers run alone.
func batch(cases []readCase) []readCase {
	const maxParts, maxTokens = 16, 1500
	var out, cur []readCase
	tokens := 0
	flush := func() {
		switch len(cur) {
		case 0:
		case 1:
			out = append(out, cur[0])
		default:
			var decls, fields []string
			m := readCase{name: fmt.Sprintf("batch of %d from %s", len(cur), cur[0].name), vars: map[string]any{}}
			for i, c := range cur {
				d, f, _ := splitQuery(c.query)
				suffix := fmt.Sprintf("_%d", i)
				if d != "" {
					decls = append(decls, varRE.ReplaceAllString(d, "$$${1}"+suffix))
				}
				alias := fmt.Sprintf("c%d", i)
				fields = append(fields, alias+": "+varRE.ReplaceAllString(f, "$$${1}"+suffix))
				for k, v := range c.vars {
					m.vars[k+suffix] = v
				}
				m.parts = append(m.parts, part{alias: alias, c: c})
			}
			m.query = "query(" + strings.Join(decls, ", ") + ") { " + strings.Join(fields, " ") + " }"
			out = append(out, m)
		}
		cur, tokens = nil, 0
	}
	for _, c := range cases {
		_, f, ok := splitQuery(c.query)
		if !ok || c.check != nil || c.header != nil || c.refused {
			flush()
			out = append(out, c)
			continue
		}
		n := len(strings.Fields(f))
		if len(cur) == maxParts || tokens+n > maxTokens {
			flush()
		}
		cur = append(cur, c)
		tokens += n
	}
	flush()
	return out
}

// splitQuery splits "query(DECLS) { r: FIELD }".
func splitQuery(q string) (decls, field string, ok bool) {
	rest, ok := strings.CutPrefix(q, "query(")
	if !ok {
		return "", "", false
	}
	decls, rest, ok = strings.Cut(rest, ") { r: ")
	if !ok || !strings.HasSuffix(rest, " }") {
		return "", "", false
	}
	return decls, strings.TrimSuffix(rest, " }"), true
}

// totalCountMismatch returns the paths of connections whose totalCount is
// not the number of edges returned (for pages that are not full).
func totalCountMismatch(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if tc, ok := x["totalCount"].(json.Number); ok {
			if edges, ok := x["edges"].([]any); ok && len(edges) < graph.DefaultPageSize {
				if n, _ := tc.Int64(); int(n) != len(edges) {
					out = append(out, fmt.Sprintf("%s: totalCount %d, %d edges", path, n, len(edges)))
				}
			}
		}
		for k, e := range x {
			out = append(out, totalCountMismatch(e, path+"."+k)...)
		}
	case []any:
		for i, e := range x {
			out = append(out, totalCountMismatch(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --- generation ----------------------------------------------------------------

// row is one node as the control sees it.
type row map[string]any

func (r row) id() string { s, _ := r["id"].(string); return s }

// neighbors returns the IDs of the nodes at edge e of the row.
func (r row) neighbors(e string) []string {
	var out []string
	switch x := r[e].(type) {
	case map[string]any:
		if id, ok := x["id"].(string); ok {
			out = append(out, id)
		}
		if edges, ok := x["edges"].([]any); ok {
			for _, ed := range edges {
				if n, ok := ed.(map[string]any)["node"].(map[string]any); ok {
					if id, ok := n["id"].(string); ok {
						out = append(out, id)
					}
				}
			}
		}
	case []any:
		for _, n := range x {
			if m, ok := n.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

func (s *suite) runGraphQL(t *testing.T) {
	si := schemaInfo{graph.NewSchema(s.client).Schema()}
	var cases []readCase
	rowsOf := map[string][]row{}
	roots := si.roots()
	if len(roots) < 9 {
		t.Fatalf("generator: found %d root connections in the schema, want at least 9", len(roots))
	}
	// Every row of every entity, as the control sees them; A's apart.
	allRows := map[string][]row{}
	for _, r := range roots {
		if _, done := rowsOf[r.target]; done || !s.argsFree(r) {
			continue
		}
		resp, err := s.post(s.f.superKey, rootQuery(r, si.sel(r.target, 0)), map[string]any{"first": 1000}, nil)
		if err != nil || len(resp.errors) > 0 {
			t.Fatalf("generator: reading %s as the control: %v %s", r.target, err, resp.raw)
		}
		rowsOf[r.target] = []row{}
		for _, e := range decode(resp.data).(map[string]any)["r"].(map[string]any)["edges"].([]any) {
			ed := e.(map[string]any)
			n := row(ed["node"].(map[string]any))
			n["__cursor"] = ed["cursor"]
			allRows[r.target] = append(allRows[r.target], n)
			if s.f.secretIDs[n.id()] {
				rowsOf[r.target] = append(rowsOf[r.target], n)
			}
		}
		if len(rowsOf[r.target]) != len(s.f.aRows[r.target]) {
			t.Fatalf("generator: the control sees %d of A's %d %s rows", len(rowsOf[r.target]), len(s.f.aRows[r.target]), r.target)
		}
	}
	uncovered := 0
	for _, r := range roots {
		rows := rowsOf[r.target]
		base := s.rootArgs(t, r, rows)
		if base == nil {
			continue
		}
		// Lists select every scalar field; edges have cases of their own.
		listQ := rootQuery(r, strings.Join(si.leaves(r.target), " "))
		name := func(format string, args ...any) string { return r.field + " " + fmt.Sprintf(format, args...) }
		with := func(m map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range base.vars {
				out[k] = v
			}
			for k, v := range m {
				out[k] = v
			}
			return out
		}
		cases = append(cases, readCase{name: name("(all)"), query: listQ, vars: with(nil), targets: base.targets})
		// Every field of the where input.
		whereT := named(r.def.Arguments.ForName("where").Type)
		for _, wf := range si.Types[whereT].Fields {
			rs := rows
			if base.rows != nil {
				rs = base.rows
			}
			v, target, ok := si.whereValue(r.target, wf, rs)
			if !ok {
				uncovered++
				continue
			}
			vars := with(map[string]any{"where": map[string]any{wf.Name: v}})
			if base.argsFor != nil {
				for k, x := range base.argsFor(target) {
					vars[k] = x
				}
			}
			rangeOp := false
			for _, op := range []string{"GT", "GTE", "LT", "LTE"} {
				rangeOp = rangeOp || strings.HasSuffix(wf.Name, op)
			}
			cases = append(cases, readCase{name: name("where %s", wf.Name), query: listQ, vars: vars, targets: []string{target}, noTwin: rangeOp})
		}
		// Edge predicates aimed at rows the caller sees whose neighbors are
		// A's: the caller must not learn that they are there.
		if base.rows == nil {
			cases = append(cases, s.edgePredicateCases(t, si, r, whereT, allRows[r.target])...)
		}
		// Every order field, both directions.
		orderT := named(r.def.Arguments.ForName("orderBy").Type)
		for _, v := range si.Types[named(si.Types[orderT].Fields.ForName("field").Type)].EnumValues {
			for _, dir := range []string{"ASC", "DESC"} {
				cases = append(cases, readCase{name: name("orderBy %s %s", v.Name, dir), query: listQ,
					vars: with(map[string]any{"orderBy": []any{map[string]any{"field": v.Name, "direction": dir}}}), targets: base.targets})
			}
		}
		// Cursors of A's rows.
		if len(rows) > 0 && base.rows == nil {
			cur := rows[0]["__cursor"]
			cases = append(cases,
				readCase{name: name("after A's cursor"), query: listQ, vars: with(map[string]any{"after": cur, "first": 50})},
				readCase{name: name("before A's cursor"), query: listQ, vars: with(map[string]any{"before": cur, "last": 50})},
			)
		}
		// Every edge, two levels deep, with totalCount.
		for _, e := range si.edges(r.target) {
			inner := si.sel(e.target, 1)
			if e.conn {
				inner = e.name + " { totalCount edges { node { " + inner + " } } }"
			} else {
				inner = e.name + " { " + inner + " }"
			}
			cases = append(cases, readCase{name: name("edge %s", e.name), query: rootQuery(r, "id "+inner), vars: with(nil), targets: base.targets})
		}
	}
	// Edge filters in the where input of nested connections.
	for _, r := range roots {
		if !s.argsFree(r) {
			continue
		}
		for _, e := range si.edges(r.target) {
			arg := si.Types[r.target].Fields.ForName(e.name).Arguments.ForName("where")
			if !e.conn || arg == nil {
				continue
			}
			wt := named(arg.Type)
			for _, ne := range si.edges(e.target) {
				var hw string
				for _, f := range si.Types[wt].Fields {
					if strings.EqualFold(f.Name, "has"+ne.name+"With") {
						hw = f.Name
					}
				}
				if hw == "" || len(s.f.aRows[ne.target]) == 0 {
					continue
				}
				q := fmt.Sprintf("query($nw: %s) { r: %s(first: 100) { totalCount edges { node { id %s(where: $nw) { totalCount edges { node { id } } } } } } }", wt, r.field, e.name)
				cases = append(cases, readCase{name: fmt.Sprintf("%s { %s(where: {%s: A's}) }", r.field, e.name, hw), query: q,
					vars: map[string]any{"nw": map[string]any{hw: []any{map[string]any{"id": s.f.aRows[ne.target][0]}}}}, refused: true})
			}
		}
	}
	// node and nodes for every ID of A.
	var frags []string
	for name := range si.Types {
		if si.isEntity(name) {
			frags = append(frags, si.fragment(name))
		}
	}
	sort.Strings(frags)
	nodeQ := "query($id: ID!) { r: node(id: $id) { id " + strings.Join(frags, " ") + " } }"
	nodesQ := "query($ids: [ID!]!) { r: nodes(ids: $ids) { id " + strings.Join(frags, " ") + " } }"
	var all []string
	entities := make([]string, 0, len(s.f.aRows))
	for e := range s.f.aRows {
		entities = append(entities, e)
	}
	sort.Strings(entities)
	for _, e := range entities {
		var ids []string
		for _, id := range s.f.aRows[e] {
			ids = append(ids, string(id))
			cases = append(cases, readCase{name: "node " + e + " " + string(id), query: nodeQ, vars: map[string]any{"id": id}, targets: []string{string(id)}, nodeLookup: true})
		}
		all = append(all, ids...)
		cases = append(cases, readCase{name: "nodes of A's " + e, query: nodesQ, vars: map[string]any{"ids": ids}, targets: ids, nodeLookup: true})
	}
	cases = append(cases, readCase{name: "nodes of all of A", query: nodesQ, vars: map[string]any{"ids": all}, targets: all, nodeLookup: true})
	cases = append(cases, s.viewerCases(si)...)
	cases = append(cases, s.statsAndPreferenceCases()...)
	cases = append(cases, s.sessionGraphQLCases()...)
	cases = append(cases, s.invitationReadCases()...)
	if uncovered > 0 {
		t.Logf("generator: %d where fields have no A row to aim at (soft-deleted rows are invisible to all; A has no built-in role)", uncovered)
	}
	if len(s.noBridge) > 0 {
		t.Logf("generator: no row outside A has A's rows behind %d edges (hasXWith aimed at A's rows only): %v", len(s.noBridge), s.noBridge)
	}
	s.runReads(t, batch(cases))
	s.runMutations(t, si)
}

// argsFree reports whether root r needs no argument.
func (s *suite) argsFree(r rootInfo) bool {
	for _, a := range r.def.Arguments {
		if a.Type.NonNull && a.DefaultValue == nil {
			return false
		}
	}
	return true
}

type rootBase struct {
	vars    map[string]any
	targets []string
	// rows replaces the target type's rows (listRoleMembers: memberships
	// of the role).
	rows []row
	// argsFor gives the required arguments that reach a target row.
	argsFor func(target string) map[string]any
}

// rootArgs returns the base arguments of root r: none for the generated
// connections; a role for listRoleMembers.
func (s *suite) rootArgs(t *testing.T, r rootInfo, rows []row) *rootBase {
	t.Helper()
	var ids []string
	for _, x := range rows {
		ids = append(ids, x.id())
	}
	if s.argsFree(r) {
		return &rootBase{vars: map[string]any{}, targets: ids}
	}
	if r.field == "listRoleMembers" {
		// Members of A's custom role; each where case asks for a role
		// the target membership holds.
		var held []row
		for _, x := range rows {
			if len(x.neighbors("roles")) > 0 {
				held = append(held, x)
			}
		}
		roleOf := map[string]string{}
		for _, x := range held {
			roleOf[x.id()] = x.neighbors("roles")[0]
		}
		var heldIDs []string
		for _, x := range held {
			if slices.Contains(x.neighbors("roles"), string(s.f.roleA)) {
				heldIDs = append(heldIDs, x.id())
			}
		}
		return &rootBase{
			vars:    map[string]any{"roleID": s.f.roleA},
			targets: heldIDs,
			rows:    held,
			argsFor: func(target string) map[string]any { return map[string]any{"roleID": roleOf[target]} },
		}
	}
	t.Errorf("generator: root %s needs arguments the suite does not know how to fill", r.field)
	return nil
}

var whereOps = []string{"ContainsFold", "EqualFold", "HasPrefix", "HasSuffix", "Contains", "NotNil", "IsNil", "NotIn", "GTE", "LTE", "NEQ", "GT", "LT", "In", ""}

// whereValue returns a value for field wf of the where input of typ that
// selects one of rows, and that row's ID.
func (si schemaInfo) whereValue(typ string, wf *ast.FieldDefinition, rows []row) (any, string, bool) {
	if len(rows) == 0 {
		return nil, "", false
	}
	unknown := func(id string) string { return pulid.ID(id).Prefix() + "_01JD3Q6X6S4W7N9ZKX2C1V0B8E" }
	first := rows[0]
	switch wf.Name {
	case "not":
		return map[string]any{"id": unknown(first.id())}, first.id(), true
	case "and":
		return []any{map[string]any{"id": first.id()}, map[string]any{"idNEQ": unknown(first.id())}}, first.id(), true
	case "or":
		return []any{map[string]any{"id": first.id()}, map[string]any{"id": unknown(first.id())}}, first.id(), true
	}
	// Edge predicates: hasX, hasXWith.
	for _, e := range si.edges(typ) {
		switch strings.ToLower(wf.Name) {
		case strings.ToLower("has" + e.name):
			for _, r := range rows {
				if len(r.neighbors(e.name)) > 0 {
					return true, r.id(), true
				}
			}
			return nil, "", false
		case strings.ToLower("has" + e.name + "With"):
			for _, r := range rows {
				if n := r.neighbors(e.name); len(n) > 0 {
					return []any{map[string]any{"id": n[0]}}, r.id(), true
				}
			}
			return nil, "", false
		}
	}
	// Field predicates: the longest field name that prefixes wf.
	fields := si.leaves(typ)
	sort.Slice(fields, func(i, j int) bool { return len(fields[i]) > len(fields[j]) })
	for _, f := range fields {
		op, ok := strings.CutPrefix(wf.Name, f)
		if !ok || !slices.Contains(whereOps, op) {
			continue
		}
		ft := named(si.Types[typ].Fields.ForName(f).Type)
		for _, r := range rows {
			x := r[f]
			switch op {
			case "IsNil":
				if x == nil {
					return true, r.id(), true
				}
				continue
			case "NotNil":
				if x != nil {
					return true, r.id(), true
				}
				continue
			}
			if x == nil || x == "" {
				continue
			}
			switch op {
			case "", "GTE", "LTE", "Contains", "HasPrefix", "HasSuffix", "EqualFold", "ContainsFold":
				return x, r.id(), true
			case "NEQ":
				return si.other(ft, x), r.id(), true
			case "In":
				return []any{x}, r.id(), true
			case "NotIn":
				return []any{si.other(ft, x)}, r.id(), true
			case "GT":
				return below(ft, x), r.id(), true
			case "LT":
				return above(ft, x), r.id(), true
			}
		}
		return nil, "", false
	}
	return nil, "", false
}

// other returns a value of type ft different from x.
func (si schemaInfo) other(ft string, x any) any {
	switch ft {
	case "ID":
		return pulid.ID(x.(string)).Prefix() + "_01JD3Q6X6S4W7N9ZKX2C1V0B8E"
	case "String":
		return "zz-no-such-value"
	case "Time":
		return "2001-01-01T00:00:00Z"
	case "Int":
		n, _ := x.(json.Number).Int64()
		return n + 1000
	case "Boolean":
		return !x.(bool)
	}
	if d := si.Types[ft]; d != nil && d.Kind == ast.Enum {
		for _, v := range d.EnumValues {
			if v.Name != x {
				return v.Name
			}
		}
	}
	return x
}

func below(ft string, x any) any {
	switch ft {
	case "ID":
		return pulid.ID(x.(string)).Prefix() + "_00000000000000000000000000"
	case "Time":
		return "2001-01-01T00:00:00Z"
	case "Int":
		n, _ := x.(json.Number).Int64()
		return n - 1
	case "String":
		s := x.(string)
		return s[:len(s)-1]
	}
	return x
}

func above(ft string, x any) any {
	switch ft {
	case "ID":
		return pulid.ID(x.(string)).Prefix() + "_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	case "Time":
		return "2999-01-01T00:00:00Z"
	case "Int":
		n, _ := x.(json.Number).Int64()
		return n + 1
	case "String":
		return x.(string) + "zzz"
	}
	return x
}

// viewerCases ask who the caller is and what it may do in A.
func (s *suite) viewerCases(si schemaInfo) []readCase {
	f := s.f
	var cases []readCase
	viewerQ := `query($org: ID!) { viewer { kind user { id email } apiKey { id name } activeOrganization { id name }
		platformRole platformPermissions scopes
		organizations { organization { id name slug } membership { id } roles { id key } level permissions { permission grantedBy } }
		permissions(organizationID: $org) { permission grantedBy } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		cases = append(cases, readCase{name: "viewer with permissions in " + string(org), query: viewerQ, vars: map[string]any{"org": org},
			check: func(p principal, r gqlResp) ([]string, []string) {
				if p.support {
					return nil, nil
				}
				var d struct {
					Viewer struct {
						Permissions []any `json:"permissions"`
					} `json:"viewer"`
				}
				_ = json.Unmarshal(r.data, &d)
				if len(d.Viewer.Permissions) > 0 {
					return []string{fmt.Sprintf("holds permissions in A: %v", d.Viewer.Permissions)}, nil
				}
				return nil, nil
			}})
	}
	canQ := `query($p: String!, $org: ID!) { can(permission: $p, organizationID: $org) { allowed reason } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		for _, e := range permission.Catalog {
			cases = append(cases, readCase{name: "can " + e.Name + " in " + string(org), query: canQ, vars: map[string]any{"p": e.Name, "org": org},
				check: func(p principal, r gqlResp) ([]string, []string) {
					var d struct {
						Can struct {
							Allowed bool   `json:"allowed"`
							Reason  string `json:"reason"`
						} `json:"can"`
					}
					_ = json.Unmarshal(r.data, &d)
					ok := !d.Can.Allowed
					if p.support {
						// Support reads everywhere and writes nowhere.
						ok = d.Can.Allowed == (e.Platform && (e.Name == permission.PlatformRead || e.Name == permission.PlatformStatsRead) ||
							!e.Platform && strings.HasSuffix(e.Name, ":read"))
					}
					if !ok {
						return []string{fmt.Sprintf("can(%s, A) = %v (%s)", e.Name, d.Can.Allowed, d.Can.Reason)}, nil
					}
					return nil, nil
				}})
		}
	}
	// Asking to act in A.
	listQ := `{ organizations { totalCount edges { node { id name } } } memberships { totalCount edges { node { id } } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		cases = append(cases, readCase{name: "X-Organization-ID " + string(org), query: listQ, header: map[string]string{"X-Organization-ID": string(org)},
			check: func(p principal, r gqlResp) ([]string, []string) {
				if p.support {
					return nil, nil
				}
				if r.status != http.StatusForbidden || r.hasData {
					return []string{fmt.Sprintf("acting in A: want HTTP 403 without data, got %d: %s", r.status, r.raw)}, nil
				}
				return nil, nil
			}, refused: true})
	}
	return cases
}

// edgePredicateCases generate, for every edge of root r:
//   - hasXWith: [{id: <A's neighbor>}] aimed at a row outside A (a bridge:
//     a user of both organizations, a built-in role held in A): callers
//     other than support must get no row;
//   - hasX: true and false next to the whole list: the rows each returns
//     must be exactly those whose edge, as the caller sees it, is non-empty
//     (or empty).
func (s *suite) edgePredicateCases(t *testing.T, si schemaInfo, r rootInfo, whereT string, all []row) []readCase {
	var cases []readCase
	whereField := func(name string) string {
		for _, f := range si.Types[whereT].Fields {
			if strings.EqualFold(f.Name, name) {
				return f.Name
			}
		}
		return ""
	}
	listQ := rootQuery(r, "id")
	for _, e := range si.edges(r.target) {
		if with := whereField("has" + e.name + "With"); with != "" {
			found := false
			for _, x := range all {
				if s.f.secretIDs[x.id()] {
					continue
				}
				for _, n := range x.neighbors(e.name) {
					if !s.f.secretIDs[n] || found {
						continue
					}
					found = true
					cases = append(cases, readCase{name: fmt.Sprintf("%s where %s A's %s, aimed at %s", r.field, with, n, x.id()), query: listQ,
						vars: map[string]any{"where": map[string]any{with: []any{map[string]any{"id": n}}}}, targets: []string{x.id()},
						check: func(p principal, resp gqlResp) ([]string, []string) {
							if p.support {
								return nil, nil
							}
							if ids := nodeIDs(decode(resp.data), "r"); len(ids) > 0 {
								return []string{fmt.Sprintf("rows %v are returned because of A's %s behind edge %s", ids, n, e.name)}, nil
							}
							return nil, nil
						}})
				}
			}
			if !found {
				s.noBridge = append(s.noBridge, r.target+"."+e.name)
			}
		}
		has := whereField("has" + e.name)
		if has == "" {
			continue
		}
		sel := e.name + " { id }"
		if e.conn {
			sel = e.name + " { edges { node { id } } }"
		}
		q := fmt.Sprintf(`{ all: %[1]s(first: 1000) { edges { node { id %[2]s } } }
			yes: %[1]s(first: 1000, where: {%[3]s: true}) { edges { node { id } } }
			no: %[1]s(first: 1000, where: {%[3]s: false}) { edges { node { id } } } }`, r.field, sel, has)
		cases = append(cases, readCase{name: fmt.Sprintf("%s where %s true/false against what the caller sees", r.field, has), query: q,
			check: func(p principal, resp gqlResp) ([]string, []string) {
				if p.support {
					return nil, nil
				}
				d, _ := decode(resp.data).(map[string]any)
				// Rows whose node is null (a non-null edge the caller's
				// scopes do not cover) are left out of the comparison.
				var want, wantNot, known []string
				for _, ed := range edgesOf(d, "all") {
					if n, ok := ed["node"].(map[string]any); ok {
						known = append(known, row(n).id())
						if len(row(n).neighbors(e.name)) > 0 {
							want = append(want, row(n).id())
						} else {
							wantNot = append(wantNot, row(n).id())
						}
					}
				}
				inKnown := func(ids []string) []string {
					return slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(known, id) })
				}
				var out []string
				if got := inKnown(nodeIDs(d, "yes")); !sameSet(got, want) {
					out = append(out, fmt.Sprintf("%s: true returns %v, but the caller sees neighbors on %v only", has, got, want))
				}
				if got := inKnown(nodeIDs(d, "no")); !sameSet(got, wantNot) {
					out = append(out, fmt.Sprintf("%s: false returns %v, but the caller sees no neighbor on %v", has, got, wantNot))
				}
				return out, nil
			}})
	}
	return cases
}

func edgesOf(d any, alias string) []map[string]any {
	m, _ := d.(map[string]any)
	conn, _ := m[alias].(map[string]any)
	var out []map[string]any
	if edges, ok := conn["edges"].([]any); ok {
		for _, e := range edges {
			if em, ok := e.(map[string]any); ok {
				out = append(out, em)
			}
		}
	}
	return out
}

// nodeIDs returns the IDs of the nodes of connection alias.
func nodeIDs(d any, alias string) []string {
	var out []string
	for _, e := range edgesOf(d, alias) {
		if n, ok := e["node"].(map[string]any); ok {
			out = append(out, row(n).id())
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// statsAndPreferenceCases ask for A's statistics and A's effective
// preferences: platform support reads them (platform:read), nobody else of
// the adversaries gets a figure of A or a value of A's preferences.
func (s *suite) statsAndPreferenceCases() []readCase {
	f := s.f
	var cases []readCase
	// leakIfData: the answer holds data under field for a principal that
	// is not platform staff.
	leakIfData := func(field string, platform bool) func(p principal, r gqlResp) ([]string, []string) {
		return func(p principal, r gqlResp) ([]string, []string) {
			if p.support && platform {
				return nil, nil
			}
			var d map[string]json.RawMessage
			_ = json.Unmarshal(r.data, &d)
			if v, ok := d[field]; ok && string(v) != "null" {
				return []string{fmt.Sprintf("%s answered: %s", field, v)}, nil
			}
			return nil, nil
		}
	}
	from, to := time.Now().Add(-30*24*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		cases = append(cases,
			readCase{name: "organizationStats of " + string(org), noTwin: true,
				query: `query($o: ID!) { organizationStats(id: $o) { membersByStatus { status count } membersByRole { roleID key count } pendingInvitations activeSessions activeAPIKeys activities24h activities7d } }`,
				vars:  map[string]any{"o": org}, check: leakIfData("organizationStats", true)},
			readCase{name: "activityStats of " + string(org), noTwin: true,
				query: `query($o: ID!, $f: Time!, $t: Time!) { activityStats(organizationID: $o, from: $f, to: $t) { total byVerb { verb count } byDay { day count } } }`,
				vars:  map[string]any{"o": org, "f": from, "t": to}, check: leakIfData("activityStats", true)},
		)
		cases = append(cases, readCase{name: "effectivePreferences in " + string(org), noTwin: true,
			query: `query($o: ID!) { effectivePreferences(organizationID: $o) { key value source layers { level value version } } }`,
			vars:  map[string]any{"o": org},
			check: func(p principal, r gqlResp) ([]string, []string) {
				if !p.support && strings.Contains(string(r.data), marker+".") {
					return []string{"A's preferences in the answer: " + string(r.data)}, nil
				}
				return nil, nil
			}})
	}
	for _, u := range []pulid.ID{f.ownerA, f.memberA} {
		cases = append(cases, readCase{name: "effectivePreferences of A's user " + string(u), noTwin: true,
			query: `query($u: ID!) { effectivePreferences(userID: $u) { key value source } }`,
			vars:  map[string]any{"u": u},
			check: func(p principal, r gqlResp) ([]string, []string) {
				if strings.Contains(string(r.data), marker+".memberpref") {
					return []string{"A's user preference in the answer: " + string(r.data)}, nil
				}
				return nil, nil
			}})
	}
	cases = append(cases, readCase{name: "platformStats", noTwin: true, refused: true,
		query: `{ platformStats { usersByStatus { status count } bannedUsers organizations activities7d } }`,
		check: func(p principal, r gqlResp) ([]string, []string) {
			if p.support || p.actor != nil && p.actor.UserID() == f.superadmin {
				return nil, nil
			}
			return leakIfData("platformStats", false)(p, r)
		}})
	return cases
}
