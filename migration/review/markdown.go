package review

import (
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/graph/schemadiff"
	"github.com/cf/identity/migration"
)

func dialectTitle(d string) string {
	switch d {
	case dialect.SQLite:
		return "SQLite"
	case dialect.Postgres:
		return "PostgreSQL"
	}
	return d
}

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "<br>")
}

// code quotes s as inline code, safe in a table cell.
func code(s string) string {
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

func plural2(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Markdown renders the report for a pull-request comment.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Schema change review\n\n")
	problems := r.Problems()
	if len(problems) > 0 {
		w("❌ **Not ready to merge: %s.** The details follow; how to fix each kind, or to accept an intended lint finding or breaking API change, is at the end.\n\n",
			plural2(len(problems), "problem", "problems"))
	} else {
		w("✅ **No problem found.** Review the changes below.\n\n")
	}
	if r.Base.Available() {
		w("Base: %s (%s).\n\n", baseText(r.Base), code(r.Base.Short()))
	} else {
		w("Base: none. %s.\n\n", capitalize(r.Base.Note))
	}
	if len(r.Migrations) > 0 {
		w("| check |")
		for _, m := range r.Migrations {
			w(" %s |", dialectTitle(m.Dialect))
		}
		w("\n|---|")
		for range r.Migrations {
			w("---|")
		}
		w("\n")
		row := func(name string, f func(*DialectReport) string) {
			w("| %s |", name)
			for _, m := range r.Migrations {
				if m.Err != nil {
					w(" ❌ not checked |")
					continue
				}
				w(" %s |", f(m))
			}
			w("\n")
		}
		row("atlas.sum", func(m *DialectReport) string {
			if m.Sum != nil {
				return "❌ does not match the files"
			}
			return "✅ matches"
		})
		row("migrations replay to the ent schema", func(m *DialectReport) string {
			var de *migration.DriftError
			switch {
			case errors.As(m.Drift, &de):
				return "❌ drift: migration missing"
			case m.Drift != nil:
				return "❌ check failed"
			}
			return "✅ no drift"
		})
		row("new files linted", func(m *DialectReport) string {
			if m.Lint == nil {
				return "—"
			}
			return fmt.Sprint(len(m.Lint.New))
		})
		row("lint", func(m *DialectReport) string {
			if m.LintErr != nil || m.Lint == nil {
				return "❌ failed"
			}
			failed := len(m.Lint.Failed())
			allowed := len(m.Lint.Findings) - failed
			switch {
			case failed > 0 && allowed > 0:
				return fmt.Sprintf("❌ %s to fix, %d allowed", plural2(failed, "finding", "findings"), allowed)
			case failed > 0:
				return fmt.Sprintf("❌ %s to fix", plural2(failed, "finding", "findings"))
			case allowed > 0:
				return fmt.Sprintf("✅ %s allowed", plural2(allowed, "finding", "findings"))
			}
			return "✅ no findings"
		})
		w("\n")
	}
	if g := r.GraphQL; g != nil {
		w("GraphQL: %s\n\n", g.summary())
	}
	for _, m := range r.Migrations {
		m.markdown(&b)
	}
	if r.GraphQL != nil {
		r.GraphQL.markdown(&b)
	}
	w("<details><summary>How to accept a finding or a breaking change</summary>\n\n")
	w("- **Migration lint finding**: if the change is intended and safe, put an allow comment in the comment block directly above the statement (no blank line between), naming the code and why it is safe:\n")
	w("  ```sql\n  -- cf:allow DS103 reason: nickname is unused since v1.4; its data was copied to display_name in 20261201000000\n  ALTER TABLE \"cf_users\" DROP COLUMN \"nickname\";\n  ```\n")
	w("  Several codes: `-- cf:allow DS103,MF103 reason: …`. CF1xx findings (edited, removed or misordered files, failing statements) cannot be allowed.\n")
	w("- **Drift**: run `go run ./cmd/identity migrate diff NAME` and commit the new files with their `atlas.sum`.\n")
	w("- **atlas.sum**: never edit a merged migration; after editing an unmerged one, run `go run ./cmd/identity migrate hash`.\n")
	w("- **Breaking GraphQL change**: add a line to `%s` in the same pull request: ``- `Type.field` why clients are not broken or how they migrate``.\n", ackFile(r))
	w("\n</details>\n")
	return b.String()
}

func ackFile(r *Report) string {
	if r.GraphQL != nil && r.GraphQL.AckFile != "" {
		return r.GraphQL.AckFile
	}
	return "graph/" + schemadiff.AckFile
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func baseText(b Base) string {
	if strings.HasPrefix(b.Note, "compared with the merge base of HEAD and ") {
		return "merge base of HEAD and " + code(b.Ref)
	}
	return code(b.Ref)
}

var opIcons = map[Op]string{OpAdded: "➕ added", OpChanged: "✏️ changed", OpDropped: "➖ dropped", OpRenamed: "✏️ renamed"}

func (m *DialectReport) markdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### %s migrations (%s)\n\n", dialectTitle(m.Dialect), code(m.Path))
	if m.Err != nil {
		w("❌ Not checked: %s\n\n", m.Err)
		return
	}
	if m.Sum != nil {
		w("❌ **atlas.sum** does not match the files: %s\n\n", m.Sum)
	}
	m.lintMarkdown(b)
	var de *migration.DriftError
	switch {
	case errors.As(m.Drift, &de):
		sqlText := strings.TrimSpace(de.SQL)
		w("❌ **Drift**: replaying the directory on a clean database does not give the ent schema: a migration is missing; plan it with `identity migrate diff NAME`.\n\n")
		if n := strings.Count(sqlText, "\n") + 1; n > 12 {
			w("<details><summary>Missing SQL (%d lines)</summary>\n\n```sql\n%s\n```\n\n</details>\n\n", n, sqlText)
		} else {
			w("Missing SQL:\n\n```sql\n%s\n```\n\n", sqlText)
		}
	case m.Drift != nil:
		w("❌ **Drift check failed**: %s\n\n", m.Drift)
	}
	if m.LintErr != nil {
		w("❌ **Lint failed**: %s\n\n", m.LintErr)
	}
}

func (m *DialectReport) lintMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	l := m.Lint
	if l == nil {
		return
	}
	if len(l.New) == 0 {
		w("No migration file added.\n\n")
	} else {
		names := make([]string, len(l.New))
		for i, n := range l.New {
			names[i] = code(n)
		}
		w("New %s: %s\n\n", pick(len(names), "file", "files"), strings.Join(names, ", "))
		changes := Describe(m.Dialect, l.Changes)
		if len(changes) == 0 {
			w("Schema changes: none.\n\n")
		} else {
			w("**Schema changes**\n\n| | object | name | details |\n|---|---|---|---|\n")
			for _, c := range changes {
				w("| %s | %s | %s | %s |\n", opIcons[c.Op], c.Kind, code(c.Name), cell(c.Detail))
			}
			w("\n")
		}
	}
	all := append(append([]Finding(nil), l.Findings...), l.UnusedAllows...)
	if len(all) == 0 {
		if len(l.New) > 0 || l.Findings != nil {
			w("Lint: no findings.\n\n")
		}
		return
	}
	w("**Lint**\n\n| | where | code | finding |\n|---|---|---|---|\n")
	for _, f := range l.Findings {
		status := "❌"
		if f.Allowed {
			status = "✅ allowed"
		}
		text := f.Message
		if f.Statement != "" {
			text += "\n" + code(f.Statement)
		}
		if f.Allowed {
			text += "\nReason: " + f.Reason
		}
		w("| %s | %s | %s | %s |\n", status, code(f.Where()), f.Code, cell(text))
	}
	for _, f := range l.UnusedAllows {
		w("| ⚠️ unused | %s | %s | %s |\n", code(f.Where()), f.Code, cell(f.Message+"\nReason: "+f.Reason))
	}
	w("\n")
}

func (g *GraphQLReport) summary() string {
	switch {
	case g.Err != nil:
		return "❌ the schema could not be compared"
	case g.Skipped != "":
		return "not compared (" + g.Skipped + ")"
	}
	breaking, acked, added, other := g.Counts()
	var parts []string
	if breaking > 0 {
		parts = append(parts, plural2(breaking, "breaking change", "breaking changes")+" not acknowledged")
	}
	if acked > 0 {
		parts = append(parts, plural2(acked, "breaking change", "breaking changes")+" acknowledged")
	}
	if added > 0 {
		parts = append(parts, plural2(added, "addition", "additions"))
	}
	if other > 0 {
		parts = append(parts, plural2(other, "other change", "other changes"))
	}
	if len(g.AckErrors) > 0 {
		parts = append(parts, plural2(len(g.AckErrors), "acknowledgement", "acknowledgements")+" without a reason")
	}
	if len(parts) == 0 {
		return "✅ no change"
	}
	icon := "✅ "
	if breaking > 0 || len(g.AckErrors) > 0 {
		icon = "❌ "
	}
	return icon + strings.Join(parts, ", ")
}

func (g *GraphQLReport) markdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### GraphQL schema (%s)\n\n", code(g.Path+"/*.graphql"))
	switch {
	case g.Err != nil:
		w("❌ The schema could not be compared: %s\n\n", g.Err)
		return
	case g.Skipped != "":
		w("Not compared: %s.\n\n", g.Skipped)
		return
	case len(g.Changes) == 0 && len(g.AckErrors) == 0 && len(g.UnusedAcks) == 0:
		w("No change.\n\n")
		return
	}
	var breaking, other, added []schemadiff.Change
	for _, c := range g.Changes {
		switch {
		case c.Breaking:
			breaking = append(breaking, c)
		case c.Kind == schemadiff.Added:
			added = append(added, c)
		default:
			other = append(other, c)
		}
	}
	if len(breaking) > 0 {
		w("**Breaking changes**: clients written against the base's schema may fail.\n\n| | coordinate | change |\n|---|---|---|\n")
		for _, c := range breaking {
			if c.Ack != nil {
				w("| ✅ acknowledged | %s | %s |\n", code(c.Coordinate), cell(c.Message+"\nReason: "+c.Ack.Reason))
			} else {
				w("| ❌ not acknowledged | %s | %s |\n", code(c.Coordinate), cell(c.Message))
			}
		}
		w("\n")
	}
	for _, e := range g.AckErrors {
		w("❌ %s: %s\n\n", code(g.AckFile), e)
	}
	for _, a := range g.UnusedAcks {
		w("⚠️ %s line %d acknowledges %s, which has no breaking change.\n\n", code(g.AckFile), a.Line, code(a.Coordinate))
	}
	list(b, "Other changes (not breaking)", other)
	list(b, "Additions", added)
}

// list writes changes as a bulleted list under title, folded when long.
func list(b *strings.Builder, title string, changes []schemadiff.Change) {
	if len(changes) == 0 {
		return
	}
	if len(changes) > 10 {
		fmt.Fprintf(b, "<details><summary><b>%s</b> (%d)</summary>\n\n", title, len(changes))
	} else {
		fmt.Fprintf(b, "**%s**\n\n", title)
	}
	for _, c := range changes {
		fmt.Fprintf(b, "- %s: %s\n", code(c.Coordinate), c.Message)
	}
	if len(changes) > 10 {
		b.WriteString("\n</details>")
	}
	b.WriteString("\n\n")
}
