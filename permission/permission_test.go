package permission

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestBuiltinsUseTheCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Builtins {
		if seen[b.Key] {
			t.Errorf("duplicate built-in role %q", b.Key)
		}
		seen[b.Key] = true
		for _, p := range b.Permissions {
			if !Known(p) {
				t.Errorf("role %s holds %q, which is not in the catalog", b.Key, p)
			}
		}
	}
	for i := 1; i < len(Builtins); i++ {
		if Builtins[i].Level >= Builtins[i-1].Level {
			t.Errorf("role %s (level %d) is not below %s (level %d)", Builtins[i].Key, Builtins[i].Level, Builtins[i-1].Key, Builtins[i-1].Level)
		}
	}
}

// The README's permission table must list the catalog exactly.
func TestREADMEListsTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	re := regexp.MustCompile("(?m)^\\| `([a-z_]+:[a-z_]+)` \\|(.*)$")
	rows := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		rows[m[1]] = m[2]
	}
	for _, e := range Catalog {
		if e.Platform {
			if !strings.Contains(readme, "`"+e.Name+"`") {
				t.Errorf("README does not mention %s", e.Name)
			}
			continue
		}
		row, ok := rows[e.Name]
		if !ok {
			t.Errorf("README permission table lacks %s", e.Name)
			continue
		}
		cells := strings.Split(row, "|")
		for i, b := range Builtins {
			has := strings.Contains(cells[1+i], "✓")
			want := false
			for _, p := range b.Permissions {
				want = want || p == e.Name
			}
			if has != want {
				t.Errorf("README says %s holds %s: %v, code says %v", b.Key, e.Name, has, want)
			}
		}
	}
	if len(rows) != len(Catalog)-countPlatform() {
		t.Errorf("README table has %d rows, catalog has %d organization permissions", len(rows), len(Catalog)-countPlatform())
	}
}

func countPlatform() (n int) {
	for _, e := range Catalog {
		if e.Platform {
			n++
		}
	}
	return n
}
