package review

import (
	"strconv"
	"strings"
	"testing"

	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
)

func TestParseAllows(t *testing.T) {
	tests := []struct {
		name    string
		content string
		stmts   []int
		// want: "line:stmt:CODES:reason" per allow, "bad:line" per finding
		want []string
	}{
		{"directly above", "-- cf:allow DS103 reason: unused since v1.4\nALTER TABLE x DROP COLUMN y;\n", []int{2},
			[]string{"1:2:DS103:unused since v1.4"}},
		{"in a comment block", "-- cf:allow DS103 reason: ok\n-- Modify \"x\" table\nALTER TABLE x DROP COLUMN y;\n", []int{3},
			[]string{"1:3:DS103:ok"}},
		{"several codes", "-- cf:allow DS103, MF101 reason: both fine\nSTMT;\n", []int{2},
			[]string{"1:2:DS103,MF101:both fine"}},
		{"blank line detaches", "-- cf:allow DS103 reason: ok\n\nSTMT;\n", []int{3},
			[]string{"1:0:DS103:ok"}},
		{"statement between", "-- cf:allow DS103 reason: ok\nFIRST;\nSECOND;\n", []int{2, 3},
			[]string{"1:2:DS103:ok"}},
		{"no reason", "-- cf:allow DS103\nSTMT;\n", []int{2}, []string{"bad:1"}},
		{"empty reason", "-- cf:allow DS103 reason:   \nSTMT;\n", []int{2}, []string{"bad:1"}},
		{"malformed code", "-- cf:allow drop reason: x\nSTMT;\n", []int{2}, []string{"bad:1"}},
		{"not an allow", "-- cf:allowed DS103 reason: x\n-- allow DS103 reason: x\nSTMT;\n", []int{3}, nil},
		{"no space after dashes", "--cf:allow BC102 reason: views keep the old name\nSTMT;\n", []int{2},
			[]string{"1:2:BC102:views keep the old name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allows, bad := parseAllows(tt.content, tt.stmts)
			var got []string
			for _, a := range allows {
				got = append(got, strings.Join([]string{strconv.Itoa(a.Line), strconv.Itoa(a.Stmt), strings.Join(a.Codes, ","), a.Reason}, ":"))
			}
			for _, b := range bad {
				if b.Code != CodeBadAllow || b.Message == "" {
					t.Errorf("bad allow finding %+v", b)
				}
				got = append(got, "bad:"+strconv.Itoa(b.Line))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("parseAllows = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFixRenames(t *testing.T) {
	users := func() *schema.Table {
		return schema.NewTable("cf_users").AddColumns(schema.NewStringColumn("nickname", "text"))
	}
	handle := schema.NewStringColumn("handle", "text")
	nickname := schema.NewStringColumn("nickname", "text")
	tests := []struct {
		name    string
		stmt    string
		changes schema.Changes
		want    string
	}{
		{"column, SQLite", "ALTER TABLE `cf_users` RENAME COLUMN `nickname` TO `handle`",
			schema.Changes{&schema.ModifyTable{T: users(), Changes: schema.Changes{&schema.DropColumn{C: nickname}, &schema.AddColumn{C: handle}}}},
			"modify cf_users: rename column nickname→handle"},
		{"column, PostgreSQL without COLUMN", `ALTER TABLE "public"."cf_users" RENAME "nickname" TO "handle";`,
			schema.Changes{&schema.ModifyTable{T: users(), Changes: schema.Changes{&schema.DropColumn{C: nickname}, &schema.AddColumn{C: handle}}}},
			"modify cf_users: rename column nickname→handle"},
		{"table", `ALTER TABLE "cf_users" RENAME TO "cf_people"`,
			schema.Changes{&schema.DropTable{T: users()}, &schema.AddTable{T: schema.NewTable("cf_people")}},
			"rename table cf_users→cf_people"},
		{"index", `ALTER INDEX "cf_a" RENAME TO "cf_b"`,
			schema.Changes{&schema.ModifyTable{T: users(), Changes: schema.Changes{&schema.DropIndex{I: schema.NewIndex("cf_a")}, &schema.AddIndex{I: schema.NewIndex("cf_b")}}}},
			"modify cf_users: rename index cf_a→cf_b"},
		{"a real drop stays a drop", "ALTER TABLE `cf_users` DROP COLUMN `nickname`",
			schema.Changes{&schema.ModifyTable{T: users(), Changes: schema.Changes{&schema.DropColumn{C: nickname}}}},
			"modify cf_users: drop column nickname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dumpChanges(fixRenames(tt.stmt, tt.changes)); got != tt.want {
				t.Errorf("fixRenames = %q, want %q", got, tt.want)
			}
		})
	}
}

func dumpChanges(cs schema.Changes) string {
	var out []string
	for _, c := range cs {
		switch c := c.(type) {
		case *schema.RenameTable:
			out = append(out, "rename table "+c.From.Name+"→"+c.To.Name)
		case *schema.ModifyTable:
			var sub []string
			for _, m := range c.Changes {
				switch m := m.(type) {
				case *schema.RenameColumn:
					sub = append(sub, "rename column "+m.From.Name+"→"+m.To.Name)
				case *schema.RenameIndex:
					sub = append(sub, "rename index "+m.From.Name+"→"+m.To.Name)
				case *schema.DropColumn:
					sub = append(sub, "drop column "+m.C.Name)
				default:
					sub = append(sub, "other")
				}
			}
			out = append(out, "modify "+c.T.Name+": "+strings.Join(sub, ", "))
		default:
			out = append(out, "other")
		}
	}
	return strings.Join(out, "; ")
}

func TestDescribe(t *testing.T) {
	users := schema.NewTable("cf_users")
	locale := schema.NewStringColumn("locale", "text")
	locale.Default = &schema.Literal{V: "'en'"}
	old := schema.NewNullStringColumn("phone", "text")
	cur := schema.NewStringColumn("phone", "varchar")
	changes := schema.Changes{
		&schema.ModifyTable{T: users, Changes: schema.Changes{
			&schema.AddColumn{C: locale},
			&schema.ModifyColumn{From: old, To: cur, Change: schema.ChangeType | schema.ChangeNull},
			&schema.AddIndex{I: schema.NewUniqueIndex("cf_users_email_key").AddColumns(schema.NewStringColumn("email", "text"))},
		}},
		&schema.DropTable{T: schema.NewTable("cf_legacy").AddColumns(schema.NewIntColumn("id", "integer"))},
	}
	var got []string
	for _, c := range Describe(dialect.SQLite, changes) {
		got = append(got, string(c.Op)+" "+c.Kind+" "+c.Name+": "+c.Detail)
	}
	want := []string{
		"dropped table cf_legacy: with all of its rows (1 column)",
		"added column cf_users.locale: text NOT NULL DEFAULT 'en'",
		"changed column cf_users.phone: type text → varchar, now NOT NULL (now varchar NOT NULL)",
		"added unique index cf_users.cf_users_email_key: on (email)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Describe =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLineOf(t *testing.T) {
	content := []byte("-- c\nA;\n\n  B;\n")
	for pos, want := range map[int]int{0: 1, 5: 2, 7: 4, 9: 4} {
		if got := lineOf(content, pos); got != want {
			t.Errorf("lineOf(%d) = %d, want %d", pos, got, want)
		}
	}
}
