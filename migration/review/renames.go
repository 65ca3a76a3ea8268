package review

import (
	"regexp"
	"strings"

	"ariga.io/atlas/sql/schema"
)

// Comparing the schema before and after a statement sees a rename as a drop
// and an add. The atlas CLI fixes that with its SQL parsers, which are not
// part of the Go library; fixRenames does the same for the rename forms of
// SQLite and PostgreSQL, so that a rename reads as BC101/BC102 and not as a
// destructive drop.

const ident = `(?:"[^"]+"|` + "`[^`]+`" + `|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_$]*)`

var (
	reRenameTable = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:` + ident + `\s*\.\s*)?(` + ident + `)\s+RENAME\s+TO\s+(?:` + ident + `\s*\.\s*)?(` + ident + `)\s*;?\s*$`)
	reRenameCol   = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:` + ident + `\s*\.\s*)?(` + ident + `)\s+RENAME\s+(?:COLUMN\s+)?(` + ident + `)\s+TO\s+(` + ident + `)\s*;?\s*$`)
	reRenameIndex = regexp.MustCompile(`(?is)^\s*ALTER\s+INDEX\s+(?:IF\s+EXISTS\s+)?(?:` + ident + `\s*\.\s*)?(` + ident + `)\s+RENAME\s+TO\s+(` + ident + `)\s*;?\s*$`)
)

func unquote(s string) string {
	if len(s) >= 2 {
		switch {
		case s[0] == '"' && s[len(s)-1] == '"', s[0] == '`' && s[len(s)-1] == '`', s[0] == '[' && s[len(s)-1] == ']':
			return s[1 : len(s)-1]
		}
	}
	return s
}

// fixRenames turns the drop+add pairs a rename statement caused into
// rename changes.
func fixRenames(stmt string, changes schema.Changes) schema.Changes {
	if m := reRenameTable.FindStringSubmatch(stmt); m != nil {
		from, to := unquote(m[1]), unquote(m[2])
		if strings.EqualFold(m[2], "column") || strings.EqualFold(m[2], "constraint") {
			return changes
		}
		drop, add := -1, -1
		for i, c := range changes {
			switch c := c.(type) {
			case *schema.DropTable:
				if c.T.Name == from {
					drop = i
				}
			case *schema.AddTable:
				if c.T.Name == to {
					add = i
				}
			}
		}
		if drop == -1 || add == -1 {
			return changes
		}
		out := schema.Changes{&schema.RenameTable{From: changes[drop].(*schema.DropTable).T, To: changes[add].(*schema.AddTable).T}}
		for i, c := range changes {
			if i != drop && i != add {
				out = append(out, c)
			}
		}
		return out
	}
	if m := reRenameCol.FindStringSubmatch(stmt); m != nil {
		table, from, to := unquote(m[1]), unquote(m[2]), unquote(m[3])
		for _, c := range changes {
			mt, ok := c.(*schema.ModifyTable)
			if !ok || mt.T.Name != table {
				continue
			}
			drop, add := -1, -1
			for i, c := range mt.Changes {
				switch c := c.(type) {
				case *schema.DropColumn:
					if c.C.Name == from {
						drop = i
					}
				case *schema.AddColumn:
					if c.C.Name == to {
						add = i
					}
				}
			}
			if drop == -1 || add == -1 {
				continue
			}
			fixed := schema.Changes{&schema.RenameColumn{From: mt.Changes[drop].(*schema.DropColumn).C, To: mt.Changes[add].(*schema.AddColumn).C}}
			for i, c := range mt.Changes {
				if i != drop && i != add {
					fixed = append(fixed, c)
				}
			}
			mt.Changes = fixed
		}
		return changes
	}
	if m := reRenameIndex.FindStringSubmatch(stmt); m != nil {
		from, to := unquote(m[1]), unquote(m[2])
		for _, c := range changes {
			mt, ok := c.(*schema.ModifyTable)
			if !ok {
				continue
			}
			drop, add := -1, -1
			for i, c := range mt.Changes {
				switch c := c.(type) {
				case *schema.DropIndex:
					if c.I.Name == from {
						drop = i
					}
				case *schema.AddIndex:
					if c.I.Name == to {
						add = i
					}
				}
			}
			if drop == -1 || add == -1 {
				continue
			}
			fixed := schema.Changes{&schema.RenameIndex{From: mt.Changes[drop].(*schema.DropIndex).I, To: mt.Changes[add].(*schema.AddIndex).I}}
			for i, c := range mt.Changes {
				if i != drop && i != add {
					fixed = append(fixed, c)
				}
			}
			mt.Changes = fixed
		}
	}
	return changes
}
