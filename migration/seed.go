package migration

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cf/identity/permission"
)

// BuiltinRolesSQL returns the INSERT statements of the built-in roles for
// dialect d. They are part of the first migration of each directory.
func BuiltinRolesSQL(d string) (string, error) {
	if _, err := DirName(d); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("-- Built-in roles (fixed IDs, see package permission)\n")
	for _, r := range permission.Builtins {
		ps, err := json.Marshal(r.Permissions)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "INSERT INTO \"cf_roles\" (\"id\", \"created_at\", \"updated_at\", \"organization_id\", \"key\", \"name\", \"description\", \"permissions\", \"level\", \"full_data_access\", \"system\") VALUES (%s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL, %s, %s, %s, %s, %d, %t, true);\n",
			quote(string(r.ID)), quote(r.Key), quote(r.Name), quote(r.Description), quote(string(ps)), r.Level, r.FullDataAccess)
	}
	return b.String(), nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
