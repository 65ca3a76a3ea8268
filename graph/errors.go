package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"entgo.io/ent/privacy"
	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// Error codes set in extensions.code of GraphQL errors.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeConflict        = "CONFLICT"
	CodeInternal        = "INTERNAL"
	// CodeTooComplex refuses an operation over a limit of the server (cost,
	// depth, aliases, list lengths, input nesting) before it runs.
	CodeTooComplex = "QUERY_TOO_COMPLEX"
	// CodeTooLarge refuses a request body over the size limit (HTTP 413).
	CodeTooLarge = "PAYLOAD_TOO_LARGE"
	// CodeRateLimited refuses a caller over a rate limit (HTTP 429 with
	// Retry-After).
	CodeRateLimited = "RATE_LIMITED"
	// CodeTimeout reports an operation stopped at the request deadline.
	CodeTimeout = "TIMEOUT"
)

// uniqueMessages names, for each unique index, what a conflict means to a person.
var uniqueMessages = map[string]string{
	"cf_users_email_live":              "a user with this email already exists",
	"cf_organizations_slug_key":        "an organization with this slug already exists",
	"cf_memberships_organization_user": "the user is already a member of this organization",
	"cf_oauth_accounts_provider_user":  "this provider account is already linked to a user",
	"cf_roles_organization_key":        "a role with this key already exists in the organization",
	"cf_roles_builtin_key":             "a built-in role with this key already exists",
	"cf_api_keys_prefix_key":           "API key collision; try again",
	"cf_preferences_system_key":        "this preference already exists",
	"cf_preferences_organization_key":  "this preference already exists for the organization",
	"cf_preferences_user_key":          "this preference already exists for the user",
	"cf_membership_roles_pkey":         "the member already has this role",
}

// uniqueColumns maps "table.column" as SQLite reports it to the index name.
var uniqueColumns = map[string]string{
	"cf_users.email":        "cf_users_email_live",
	"cf_organizations.slug": "cf_organizations_slug_key",
	"cf_memberships.organization_id, cf_memberships.user_id":         "cf_memberships_organization_user",
	"cf_oauth_accounts.provider, cf_oauth_accounts.provider_user_id": "cf_oauth_accounts_provider_user",
	"cf_roles.organization_id, cf_roles.key":                         "cf_roles_organization_key",
	"cf_roles.key":                                                   "cf_roles_builtin_key",
	"cf_api_keys.prefix":                                             "cf_api_keys_prefix_key",
	"cf_membership_roles.membership_id, cf_membership_roles.role_id": "cf_membership_roles_pkey",
}

// PresentError turns a resolver error into a GraphQL error with a code in
// extensions.code and a message a person can act on. Database and internal
// errors never show their text: they are logged with the request ID.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	code, msg := classify(ctx, err)
	if code == "" {
		// gqlgen's own errors (parse, validation) keep their message and code.
		var ge *gqlerror.Error
		if gerr.Extensions["code"] != nil || (errors.As(err, &ge) && ge.Err == nil) {
			return gerr
		}
		code, msg = CodeInternal, "internal error"
		slog.ErrorContext(ctx, "graphql: internal error", "err", err, "request_id", RequestID(ctx))
		if id := RequestID(ctx); id != "" {
			msg += " (request " + id + ")"
		}
	}
	gerr.Message = msg
	if gerr.Extensions == nil {
		gerr.Extensions = map[string]any{}
	}
	gerr.Extensions["code"] = code
	gerr.Err = nil
	return gerr
}

func classify(ctx context.Context, err error) (code, msg string) {
	var (
		perr *pulid.ParseError
		verr *validation.Error
		ent1 *ent.ValidationError
		nf   *ent.NotFoundError
		nsr  *ent.NotSingularError
		cerr *ent.ConstraintError
	)
	switch {
	case errors.As(err, &perr):
		return CodeBadUserInput, perr.Error()[len("pulid: "):]
	case errors.As(err, &verr):
		return CodeBadUserInput, verr.Error()
	case errors.As(err, &ent1):
		inner := ent1.Unwrap()
		if deeper := errors.Unwrap(inner); deeper != nil {
			inner = deeper
		}
		reason := inner.Error()
		return CodeBadUserInput, fmt.Sprintf("invalid %s: %s", fieldName(ent1.Name), strings.TrimPrefix(reason, "ent: "))
	case errors.As(err, &nf):
		return CodeNotFound, "not found: no " + nf.Error()[len("ent: "):strings.Index(nf.Error(), " not found")] + " with this ID is visible to you"
	case errors.As(err, &nsr):
		return CodeConflict, "more than one object matched"
	case errors.As(err, &cerr):
		return constraint(cerr)
	case errors.Is(err, authz.ErrBuiltinRole), errors.Is(err, authz.ErrAboveLevel), errors.Is(err, authz.ErrExceedsOwn):
		return CodeForbidden, tidy(err)
	case errors.Is(err, authz.ErrRoleInUse), errors.Is(err, authz.ErrLastOwner):
		return CodeConflict, tidy(err)
	case errors.Is(err, authz.ErrForeignRole):
		return CodeBadUserInput, tidy(err)
	case errors.Is(err, privacy.Deny):
		if actor.FromContext(ctx) == nil {
			return CodeUnauthenticated, "authentication required: send Authorization: Bearer <API key>"
		}
		msg := "forbidden: you are not allowed to do this"
		if _, reason, ok := strings.Cut(err.Error(), "deny rule, "); ok {
			msg = "forbidden: " + reason
		}
		return CodeForbidden, msg
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The driver may report the cancelled statement in its own words
		// (PostgreSQL's 57014): the request's deadline is what matters.
		return CodeTimeout, "the request ran past its deadline"
	case errors.Is(err, context.Canceled):
		return CodeInternal, "request canceled"
	}
	return "", ""
}

// tidy drops package prefixes from an error message meant for a person.
func tidy(err error) string {
	return strings.NewReplacer("ent/privacy: deny rule: ", "", "authz: ", "", "ent: ", "").Replace(err.Error())
}

// fieldName turns ent's "User.email" into "email".
func fieldName(n string) string {
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		return n[i+1:]
	}
	return n
}

func constraint(err *ent.ConstraintError) (string, string) {
	var (
		pg *pgconn.PgError
		sq sqlite3.Error
	)
	switch {
	case errors.As(err, &pg):
		switch pg.Code {
		case "23505":
			if m, ok := uniqueMessages[pg.ConstraintName]; ok {
				return CodeConflict, m
			}
			return CodeConflict, "conflict: the value must be unique"
		case "23503":
			return CodeBadUserInput, "a referenced object does not exist or is still in use"
		}
	case errors.As(err, &sq):
		s := sq.Error()
		switch {
		case sq.ExtendedCode == sqlite3.ErrConstraintUnique || sq.ExtendedCode == sqlite3.ErrConstraintPrimaryKey:
			cols := strings.TrimPrefix(s, "UNIQUE constraint failed: ")
			if m, ok := uniqueMessages[uniqueColumns[cols]]; ok {
				return CodeConflict, m
			}
			return CodeConflict, "conflict: the value must be unique"
		case sq.ExtendedCode == sqlite3.ErrConstraintForeignKey:
			return CodeBadUserInput, "a referenced object does not exist or is still in use"
		}
	}
	return CodeConflict, "the change conflicts with existing data"
}
