package schema

import (
	"fmt"
	"regexp"

	"entgo.io/ent/dialect/entsql"

	"github.com/cf/identity/validation"
)

func entsqlTable(name string) entsql.Annotation { return entsql.Annotation{Table: name} }

// validateEmail accepts a bare address (no display name) of at most 254
// characters with a dotted domain, under the rules of
// validation.SetEmailRules (by default: no mixed scripts, no IP literal).
// Its errors are *validation.Error.
func validateEmail(s string) error { return validation.Email(s) }

var slugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// validateSlug accepts 2 to 63 lower-case letters, digits and single inner
// hyphens, so that the slug is safe in a URL path and a host name.
func validateSlug(s string) error {
	if len(s) < 2 || len(s) > 63 || !slugRE.MatchString(s) {
		return &validation.Error{Field: "slug", Reason: fmt.Sprintf("%q is not a valid slug: use 2-63 lower-case letters, digits and single hyphens, not at either end", s)}
	}
	return nil
}

var roleKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)

func validateRoleKey(s string) error {
	if !roleKeyRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid role key: use 2-63 lower-case letters, digits and underscores, starting with a letter", s)
	}
	return nil
}

var permissionRE = regexp.MustCompile(`^([a-z_]+|\*):([a-z_]+|\*)$`)

func validatePermissions(ps []string) error {
	for _, p := range ps {
		if !permissionRE.MatchString(p) {
			return fmt.Errorf("%q is not a permission: want resource:action", p)
		}
	}
	return nil
}

var verbRE = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)+$`)

func validateVerb(s string) error {
	if !verbRE.MatchString(s) {
		return fmt.Errorf("%q is not an activity verb: want object.action, like member.invited", s)
	}
	return nil
}

var prefKeyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,127}$`)

func validatePrefKey(s string) error {
	if !prefKeyRE.MatchString(s) {
		return fmt.Errorf("%q is not a preference key: use up to 128 letters, digits and _ . : -", s)
	}
	return nil
}
