package schemadiff_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/cf/identity/graph/schemadiff"
)

const base = `
scalar Time
interface Node { id: ID! }
type User implements Node {
  id: ID!
  email: String!
  nickname: String
  createdAt: Time!
  friends(first: Int, after: String): [User!]!
}
enum Status { ACTIVE SUSPENDED }
union Actor = User
input UserFilter { email: String, status: Status }
type Query {
  users(where: UserFilter, first: Int = 100): [User!]!
  node(id: ID!): Node
}
`

func mustLoad(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	s, err := schemadiff.Load(schemadiff.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // "coordinate|kind|breaking|message substring"
	}{
		{"no change", func(s string) string { return s }, nil},
		{"field removed", replace("  nickname: String\n", ""),
			[]string{"User.nickname|removed|true|field removed (was String)"}},
		{"field added", replace("  nickname: String\n", "  nickname: String\n  locale: String!\n"),
			[]string{"User.locale|added|false|field added: String!"}},
		{"output made non-null is safe", replace("nickname: String\n", "nickname: String!\n"),
			[]string{"User.nickname|changed|false|safe for clients"}},
		{"output made nullable breaks", replace("email: String!\n", "email: String\n"),
			[]string{"User.email|changed|true|type changed from String! to String"}},
		{"output type changed", replace("createdAt: Time!", "createdAt: String!"),
			[]string{"User.createdAt|changed|true|from Time! to String!"}},
		{"new required argument", replace("friends(first: Int, after: String)", "friends(first: Int, after: String, orderBy: String!)"),
			[]string{"User.friends(orderBy:)|added|true|new required argument: String!"}},
		{"new optional argument", replace("friends(first: Int, after: String)", "friends(first: Int, after: String, orderBy: String)"),
			[]string{"User.friends(orderBy:)|added|false|optional argument added"}},
		{"new non-null argument with default", replace("friends(first: Int, after: String)", "friends(first: Int, after: String, n: Int! = 3)"),
			[]string{"User.friends(n:)|added|false|optional argument added"}},
		{"argument removed", replace("friends(first: Int, after: String)", "friends(first: Int)"),
			[]string{"User.friends(after:)|removed|true|argument removed"}},
		{"argument made required", replace("friends(first: Int,", "friends(first: Int!,"),
			[]string{"User.friends(first:)|changed|true|from Int to Int!"}},
		{"argument made optional is safe", replace("node(id: ID!)", "node(id: ID)"),
			[]string{"Query.node(id:)|changed|false|safe for clients"}},
		{"default value changed", replace("first: Int = 100", "first: Int = 10"),
			[]string{"Query.users(first:)|changed|false|from 100 to 10"}},
		{"enum value removed", replace("enum Status { ACTIVE SUSPENDED }", "enum Status { ACTIVE }"),
			[]string{"Status.SUSPENDED|removed|true|enum value removed"}},
		{"enum value added", replace("enum Status { ACTIVE SUSPENDED }", "enum Status { ACTIVE SUSPENDED BANNED }"),
			[]string{"Status.BANNED|added|false|enum value added"}},
		{"input field removed", replace("input UserFilter { email: String, status: Status }", "input UserFilter { email: String }"),
			[]string{"UserFilter.status|removed|true|input field removed"}},
		{"required input field added", replace("input UserFilter { email: String, status: Status }", "input UserFilter { email: String, status: Status, org: ID! }"),
			[]string{"UserFilter.org|added|true|new required input field"}},
		{"optional input field added", replace("input UserFilter { email: String, status: Status }", "input UserFilter { email: String, status: Status, org: ID }"),
			[]string{"UserFilter.org|added|false|optional input field added"}},
		{"type removed", func(s string) string {
			s = strings.Replace(s, "union Actor = User\n", "", 1)
			return s
		}, []string{"Actor|removed|true|union removed"}},
		{"type added", replace("scalar Time\n", "scalar Time\nscalar JSON\n"),
			[]string{"JSON|added|false|scalar added"}},
		{"kind changed", replace("union Actor = User", "type Actor { id: ID! }"),
			[]string{"Actor|changed|true|kind changed from union to object type"}},
		{"interface dropped", replace("type User implements Node {", "type User {"),
			[]string{"User|removed|true|no longer implements Node"}},
		{"deprecated", replace("nickname: String\n", "nickname: String @deprecated(reason: \"use displayName\")\n"),
			[]string{"User.nickname|changed|false|deprecated: use displayName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := mustLoad(t, base)
			cur := mustLoad(t, tt.edit(base))
			got := schemadiff.Compare(old, cur)
			if len(got) != len(tt.want) {
				t.Fatalf("Compare = %d changes, want %d:\n%s", len(got), len(tt.want), dump(got))
			}
			for i, w := range tt.want {
				p := strings.SplitN(w, "|", 4)
				c := got[i]
				if c.Coordinate != p[0] || string(c.Kind) != p[1] || (c.Breaking != (p[2] == "true")) || !strings.Contains(c.Message, p[3]) {
					t.Errorf("change %d = %s %s breaking=%v %q, want %s", i, c.Coordinate, c.Kind, c.Breaking, c.Message, w)
				}
			}
		})
	}
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("fixture does not contain " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

func dump(cs []schemadiff.Change) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Coordinate + " " + string(c.Kind) + " " + c.Message + "\n")
	}
	return b.String()
}

func TestLoadInvalid(t *testing.T) {
	_, err := schemadiff.Load(schemadiff.Source{Name: "x.graphql", Input: "type Query { a: Missing }"})
	if !errors.Is(err, schemadiff.ErrInvalidSchema) {
		t.Fatalf("Load = %v, want ErrInvalidSchema", err)
	}
}

// TestCommittedSchemaLoads loads graph/*.graphql as gqlgen does.
func TestCommittedSchemaLoads(t *testing.T) {
	files, err := filepath.Glob("../*.graphql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var srcs []schemadiff.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, schemadiff.Source{Name: f, Input: string(b)})
	}
	s, err := schemadiff.Load(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	if got := schemadiff.Compare(s, s); len(got) != 0 {
		t.Errorf("Compare(s, s) = %s", dump(got))
	}
}

func TestAcks(t *testing.T) {
	baseFile := "# Breaking changes\n\n- `Old.field` removed: merged long ago\n"
	head := baseFile + "```\n- `Example.field` an example in a fence\n```\n" +
		"- `User.nickname` removed: no client reads it (#142)\n" +
		"* `Status` — values renamed for v3\n" +
		"- `User.email`\n" +
		"- `User.friends` \n" +
		"Some prose with `User.id` in it.\n"
	acks, errs := schemadiff.NewAcks([]byte(baseFile), []byte(head))
	if len(acks) != 2 || acks[0].Coordinate != "User.nickname" || acks[0].Reason != "removed: no client reads it (#142)" ||
		acks[1].Coordinate != "Status" || acks[1].Reason != "values renamed for v3" {
		t.Errorf("NewAcks = %+v", acks)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "User.email gives no reason") || !strings.Contains(errs[1].Error(), "line 10") {
		t.Errorf("NewAcks errors = %v", errs)
	}
	changes := []schemadiff.Change{
		{Coordinate: "Status.SUSPENDED", Kind: schemadiff.Removed, Breaking: true},
		{Coordinate: "User.nickname", Kind: schemadiff.Removed, Breaking: true},
		{Coordinate: "User.nicknames", Kind: schemadiff.Removed, Breaking: true},
		{Coordinate: "User.locale", Kind: schemadiff.Added},
	}
	unused := schemadiff.Acknowledge(changes, acks)
	if len(unused) != 0 {
		t.Errorf("unused = %+v", unused)
	}
	if changes[0].Ack == nil || changes[1].Ack == nil || changes[2].Ack != nil || changes[3].Ack != nil {
		t.Errorf("acknowledged = %v %v %v %v", changes[0].Ack, changes[1].Ack, changes[2].Ack, changes[3].Ack)
	}
	if got := schemadiff.Unacknowledged(changes); len(got) != 1 || got[0].Coordinate != "User.nicknames" {
		t.Errorf("Unacknowledged = %v", got)
	}
}

func TestAckCovers(t *testing.T) {
	tests := []struct {
		ack, coord string
		want       bool
	}{
		{"User", "User", true},
		{"User", "User.email", true},
		{"User", "UserWhereInput.email", false},
		{"User.friends", "User.friends(first:)", true},
		{"User.friends", "User.friendsCount", false},
		{"UserWhereInput.phone*", "UserWhereInput.phoneNEQ", true},
		{"UserWhereInput.phone*", "UserWhereInput.phone", true},
		{"UserWhereInput.phone*", "UserWhereInput.email", false},
		{"*.phone", "CreateUserInput.phone", true},
		{"*.phone", "CreateUserInput.phoneIn", false},
		{"[", "[", false},
	}
	for _, tt := range tests {
		if got := (schemadiff.Ack{Coordinate: tt.ack}).Covers(tt.coord); got != tt.want {
			t.Errorf("Ack %q covers %q = %v, want %v", tt.ack, tt.coord, got, tt.want)
		}
	}
}
