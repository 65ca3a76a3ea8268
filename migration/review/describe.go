package review

import (
	"fmt"
	"sort"
	"strings"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
)

// Op is what happened to a schema object.
type Op string

// Operations on schema objects.
const (
	OpAdded   Op = "added"
	OpChanged Op = "changed"
	OpDropped Op = "dropped"
	OpRenamed Op = "renamed"
)

// An ObjectChange describes the change of one table, column, index or
// constraint for a reviewer.
type ObjectChange struct {
	Op Op
	// Kind is "table", "column", "index", "unique index", "primary key",
	// "foreign key" or "check".
	Kind string
	// Name is the object's name, qualified by its table: "cf_users.email".
	Name string
	// Detail says what the object is or what changed, e.g.
	// "text NOT NULL DEFAULT 'en'" or "type text → varchar(10)".
	Detail string
}

// Describe lists schema changes, such as LintResult.Changes, object by
// object, sorted by table and then by kind of object.
func Describe(d string, changes schema.Changes) []ObjectChange {
	var out []ObjectChange
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.AddTable:
			t := c.T
			out = append(out, ObjectChange{Op: OpAdded, Kind: "table", Name: t.Name, Detail: tableSummary(t)})
			for _, col := range t.Columns {
				out = append(out, ObjectChange{Op: OpAdded, Kind: "column", Name: t.Name + "." + col.Name, Detail: columnDetail(d, col)})
			}
			if t.PrimaryKey != nil {
				out = append(out, ObjectChange{Op: OpAdded, Kind: "primary key", Name: t.Name, Detail: partsDetail(t.PrimaryKey.Parts)})
			}
			for _, idx := range t.Indexes {
				out = append(out, ObjectChange{Op: OpAdded, Kind: indexKind(idx), Name: t.Name + "." + idx.Name, Detail: indexDetail(idx)})
			}
			for _, fk := range t.ForeignKeys {
				out = append(out, ObjectChange{Op: OpAdded, Kind: "foreign key", Name: t.Name + "." + fk.Symbol, Detail: fkDetail(fk)})
			}
			for _, a := range t.Attrs {
				if ck, ok := a.(*schema.Check); ok {
					out = append(out, ObjectChange{Op: OpAdded, Kind: "check", Name: t.Name + "." + ck.Name, Detail: ck.Expr})
				}
			}
		case *schema.DropTable:
			out = append(out, ObjectChange{Op: OpDropped, Kind: "table", Name: c.T.Name, Detail: "with all of its rows (" + tableSummary(c.T) + ")"})
		case *schema.RenameTable:
			out = append(out, ObjectChange{Op: OpRenamed, Kind: "table", Name: c.To.Name, Detail: "renamed from " + c.From.Name})
		case *schema.ModifyTable:
			out = append(out, describeTable(d, c.T, c.Changes)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := tableName(out[i]), tableName(out[j])
		if ti != tj {
			return ti < tj
		}
		return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
	})
	return out
}

func tableName(c ObjectChange) string {
	if i := strings.IndexByte(c.Name, '.'); i >= 0 && c.Kind != "table" {
		return c.Name[:i]
	}
	return c.Name
}

func kindOrder(k string) int {
	switch k {
	case "table":
		return 0
	case "column":
		return 1
	case "primary key":
		return 2
	case "index", "unique index":
		return 3
	case "foreign key":
		return 4
	}
	return 5
}

func describeTable(d string, t *schema.Table, changes schema.Changes) []ObjectChange {
	var out []ObjectChange
	q := func(name string) string { return t.Name + "." + name }
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.AddColumn:
			out = append(out, ObjectChange{Op: OpAdded, Kind: "column", Name: q(c.C.Name), Detail: columnDetail(d, c.C)})
		case *schema.DropColumn:
			out = append(out, ObjectChange{Op: OpDropped, Kind: "column", Name: q(c.C.Name), Detail: "with its data (was " + columnDetail(d, c.C) + ")"})
		case *schema.RenameColumn:
			out = append(out, ObjectChange{Op: OpRenamed, Kind: "column", Name: q(c.To.Name), Detail: "renamed from " + c.From.Name})
		case *schema.ModifyColumn:
			out = append(out, ObjectChange{Op: OpChanged, Kind: "column", Name: q(c.To.Name), Detail: columnChange(d, c)})
		case *schema.AddIndex:
			out = append(out, ObjectChange{Op: OpAdded, Kind: indexKind(c.I), Name: q(c.I.Name), Detail: indexDetail(c.I)})
		case *schema.DropIndex:
			out = append(out, ObjectChange{Op: OpDropped, Kind: indexKind(c.I), Name: q(c.I.Name), Detail: "was " + indexDetail(c.I)})
		case *schema.RenameIndex:
			out = append(out, ObjectChange{Op: OpRenamed, Kind: indexKind(c.To), Name: q(c.To.Name), Detail: "renamed from " + c.From.Name})
		case *schema.ModifyIndex:
			out = append(out, ObjectChange{Op: OpChanged, Kind: indexKind(c.To), Name: q(c.To.Name), Detail: indexDetail(c.From) + " → " + indexDetail(c.To)})
		case *schema.AddPrimaryKey:
			out = append(out, ObjectChange{Op: OpAdded, Kind: "primary key", Name: t.Name, Detail: partsDetail(c.P.Parts)})
		case *schema.DropPrimaryKey:
			out = append(out, ObjectChange{Op: OpDropped, Kind: "primary key", Name: t.Name, Detail: "was " + partsDetail(c.P.Parts)})
		case *schema.ModifyPrimaryKey:
			out = append(out, ObjectChange{Op: OpChanged, Kind: "primary key", Name: t.Name, Detail: partsDetail(c.From.Parts) + " → " + partsDetail(c.To.Parts)})
		case *schema.AddForeignKey:
			out = append(out, ObjectChange{Op: OpAdded, Kind: "foreign key", Name: q(c.F.Symbol), Detail: fkDetail(c.F)})
		case *schema.DropForeignKey:
			out = append(out, ObjectChange{Op: OpDropped, Kind: "foreign key", Name: q(c.F.Symbol), Detail: "was " + fkDetail(c.F)})
		case *schema.ModifyForeignKey:
			out = append(out, ObjectChange{Op: OpChanged, Kind: "foreign key", Name: q(c.To.Symbol), Detail: fkDetail(c.From) + " → " + fkDetail(c.To)})
		case *schema.AddCheck:
			out = append(out, ObjectChange{Op: OpAdded, Kind: "check", Name: q(c.C.Name), Detail: c.C.Expr})
		case *schema.DropCheck:
			out = append(out, ObjectChange{Op: OpDropped, Kind: "check", Name: q(c.C.Name), Detail: "was " + c.C.Expr})
		case *schema.ModifyCheck:
			out = append(out, ObjectChange{Op: OpChanged, Kind: "check", Name: q(c.To.Name), Detail: c.From.Expr + " → " + c.To.Expr})
		}
	}
	return out
}

func tableSummary(t *schema.Table) string {
	parts := []string{plural(len(t.Columns), "column")}
	if n := len(t.Indexes); n > 0 {
		parts = append(parts, plural(n, "index"))
	}
	if n := len(t.ForeignKeys); n > 0 {
		parts = append(parts, plural(n, "foreign key"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "x") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func formatType(d string, t schema.Type) string {
	var (
		s   string
		err error
	)
	switch d {
	case dialect.Postgres:
		s, err = postgres.FormatType(t)
	default:
		s, err = sqlite.FormatType(t)
	}
	if err != nil || s == "" {
		if u, ok := t.(*schema.UnsupportedType); ok {
			return u.T
		}
		return fmt.Sprintf("%T", t)
	}
	return s
}

func columnDetail(d string, c *schema.Column) string {
	var b strings.Builder
	if c.Type != nil {
		b.WriteString(formatType(d, c.Type.Type))
		if c.Type.Null {
			b.WriteString(" NULL")
		} else {
			b.WriteString(" NOT NULL")
		}
	}
	if c.Default != nil {
		b.WriteString(" DEFAULT " + exprString(c.Default))
	}
	return b.String()
}

func exprString(x schema.Expr) string {
	switch x := x.(type) {
	case *schema.Literal:
		return x.V
	case *schema.RawExpr:
		return x.X
	case nil:
		return "none"
	}
	return fmt.Sprintf("%v", x)
}

func columnChange(d string, c *schema.ModifyColumn) string {
	var parts []string
	if c.Change.Is(schema.ChangeType) {
		parts = append(parts, fmt.Sprintf("type %s → %s", formatType(d, c.From.Type.Type), formatType(d, c.To.Type.Type)))
	}
	if c.Change.Is(schema.ChangeNull) {
		if c.To.Type.Null {
			parts = append(parts, "now nullable")
		} else {
			parts = append(parts, "now NOT NULL")
		}
	}
	if c.Change.Is(schema.ChangeDefault) {
		from, to := "none", "none"
		if c.From.Default != nil {
			from = exprString(c.From.Default)
		}
		if c.To.Default != nil {
			to = exprString(c.To.Default)
		}
		parts = append(parts, fmt.Sprintf("default %s → %s", from, to))
	}
	if c.Change.Is(schema.ChangeGenerated) {
		parts = append(parts, "generation expression changed")
	}
	if c.Change.Is(schema.ChangeCollate) || c.Change.Is(schema.ChangeCharset) {
		parts = append(parts, "collation changed")
	}
	if c.Change.Is(schema.ChangeComment) {
		parts = append(parts, "comment changed")
	}
	if len(parts) == 0 {
		parts = append(parts, columnDetail(d, c.From)+" → "+columnDetail(d, c.To))
	}
	return strings.Join(parts, ", ") + " (now " + columnDetail(d, c.To) + ")"
}

func indexKind(i *schema.Index) string {
	if i.Unique {
		return "unique index"
	}
	return "index"
}

func partsDetail(parts []*schema.IndexPart) string {
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		switch {
		case p.C != nil:
			n := p.C.Name
			if p.Desc {
				n += " DESC"
			}
			names = append(names, n)
		case p.X != nil:
			names = append(names, exprString(p.X))
		}
	}
	return "(" + strings.Join(names, ", ") + ")"
}

func indexDetail(i *schema.Index) string {
	s := "on " + partsDetail(i.Parts)
	for _, a := range i.Attrs {
		switch a := a.(type) {
		case *sqlite.IndexPredicate:
			s += " WHERE " + a.P
		case *postgres.IndexPredicate:
			s += " WHERE " + a.P
		}
	}
	return s
}

func fkDetail(fk *schema.ForeignKey) string {
	cols := make([]string, len(fk.Columns))
	for i, c := range fk.Columns {
		cols[i] = c.Name
	}
	refs := make([]string, len(fk.RefColumns))
	for i, c := range fk.RefColumns {
		refs[i] = c.Name
	}
	ref := ""
	if fk.RefTable != nil {
		ref = fk.RefTable.Name
	}
	s := fmt.Sprintf("(%s) → %s(%s)", strings.Join(cols, ", "), ref, strings.Join(refs, ", "))
	if fk.OnDelete != "" && fk.OnDelete != schema.NoAction {
		s += " ON DELETE " + string(fk.OnDelete)
	}
	if fk.OnUpdate != "" && fk.OnUpdate != schema.NoAction {
		s += " ON UPDATE " + string(fk.OnUpdate)
	}
	return s
}
