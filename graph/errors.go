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

	"github.com/cf/identity/account"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph/scalar"
	"github.com/cf/identity/password"
	"github.com/cf/identity/preference"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
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
//
// Errors gqlgen makes itself keep their message, and their code when they
// have one (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED); those without
// a code (they are about the request, never the database) get
// BAD_USER_INPUT. entgql's INVALID_PAGINATION becomes BAD_USER_INPUT, as
// for the page limits of the top level.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	code, msg := classify(ctx, err)
	if code == "" {
		var ge *gqlerror.Error
		switch c, _ := gerr.Extensions["code"].(string); {
		case c == codeInvalidPagination:
			code, msg = CodeBadUserInput, fmt.Sprintf("first and last must be between 0 and %d", MaxPageSize)
		case c != "":
			return gerr
		case errors.As(err, &ge) && ge.Err == nil && strings.HasPrefix(ge.Message, entFirstAndLast):
			code, msg = CodeBadUserInput, "first and last cannot be used together: page forward with first and after, or backward with last and before"
		case errors.As(err, &ge) && ge.Err == nil:
			code, msg = CodeBadUserInput, ge.Message
		}
	}
	if code == "" {
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
	var (
		verr *validation.Error
		rerr *password.RuleError
	)
	if code == CodeBadUserInput && errors.As(err, &verr) {
		gerr.Extensions["field"] = verr.Field
	}
	if errors.As(err, &rerr) {
		gerr.Extensions["rule"] = string(rerr.Rule)
	}
	gerr.Err = nil
	return gerr
}

func classify(ctx context.Context, err error) (code, msg string) {
	var (
		perr  *pulid.ParseError
		verr  *validation.Error
		ent1  *ent.ValidationError
		nf    *ent.NotFoundError
		nsr   *ent.NotSingularError
		cerr  *ent.ConstraintError
		serr  *scalar.Error
		pg    *pgconn.PgError
		sq    sqlite3.Error
		terr  *account.TransitionError
		mterr *tenancy.MemberTransitionError
		ierr  *session.ImpersonationError

		versionErr *preference.VersionError
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
	case errors.As(err, &versionErr):
		// A stale expected version: the caller reads the key again.
		return CodeConflict, strings.TrimPrefix(versionErr.Error(), "preference: ")
	case errors.Is(authz.Concurrent(err), authz.ErrConcurrentUpdate):
		// A deadlock, serialization or lock failure, or a busy SQLite:
		// nothing was applied; the driver's text stays in the log.
		return CodeConflict, "a concurrent change got in the way; nothing was changed, try again"
	case errors.Is(err, authz.ErrForeignRole):
		return CodeBadUserInput, tidy(err)
	case errors.Is(err, account.ErrLastSuperadmin):
		return CodeConflict, "the platform keeps at least one active superadmin: grant the role to another user first"
	case errors.As(err, &terr):
		return CodeBadUserInput, strings.TrimPrefix(terr.Error(), "account: ")
	case errors.As(err, &mterr):
		return CodeBadUserInput, strings.TrimPrefix(mterr.Error(), "tenancy: ")
	case errors.As(err, &ierr):
		return CodeForbidden, "forbidden: " + ierr.Detail
	case errors.Is(err, authz.ErrNotLoaded) && strings.Contains(err.Error(), "signed-in"):
		return CodeForbidden, tidy(err)
	case errors.Is(err, ErrNoSignIn):
		return CodeBadUserInput, "sign-in is not configured on this server: passwords and sessions are not available"
	case errors.As(err, &serr):
		return CodeBadUserInput, serr.Error()
	case isEmptyWhere(err):
		return CodeBadUserInput, "empty filter: every where input inside and, or and not needs at least one condition (an empty list such as idIn: [] sets none)"
	case errors.As(err, &pg):
		if e, ok := pgErrors[pg.Code]; ok && (e.match == "" || strings.Contains(pg.Message, e.match)) {
			return e.code, e.msg
		}
	case errors.As(err, &sq):
		for _, e := range sqliteErrors {
			if sq.Code == e.errno && strings.Contains(sq.Error(), e.match) {
				return e.code, e.msg
			}
		}
	case authCode(err) != "":
		_, code, msg, _ := authError(err)
		return code, msg
	case strings.Contains(err.Error(), pgxTooManyParams):
		return CodeTooComplex, msgTooComplexSQL
	case strings.Contains(err.Error(), entCursorMismatch):
		return CodeBadUserInput, msgCursorOrder
	}
	switch {
	case errors.Is(err, privacy.Deny):
		if actor.FromContext(ctx) == nil {
			return CodeUnauthenticated, msgAuthRequired
		}
		msg := "forbidden: you are not allowed to do this"
		if _, reason, ok := strings.Cut(err.Error(), "deny rule, "); ok {
			msg = "forbidden: " + reason
		} else if reason := denyReason(err); reason != "" {
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

// entCursorMismatch starts entgql's error for a cursor whose values do not
// fit the orderBy of the request (entgql/pagination.go); a cursor made for
// another order compared with a column of another type fails in
// PostgreSQL instead (22007, 22P02). Both are answered msgCursorOrder.
const (
	entCursorMismatch = "cursor values length "
	msgCursorOrder    = "the cursor does not fit this orderBy: a cursor is valid only with the orderBy of the connection that returned it; page again from the start"
)

// entgql's pagination errors (ent/gql_pagination.go): the code it sets for
// a negative first or last, and the message, without a code, for first
// together with last.
const (
	codeInvalidPagination = "INVALID_PAGINATION"
	entFirstAndLast       = "Passing both `first` and `last`"
)

// emptyWhere are entgql's errors for a where input without a condition;
// at the top level it means "no filter", nested in and, or or not it is
// an error.
var emptyWhere = []error{
	ent.ErrEmptyAPIKeyWhereInput,
	ent.ErrEmptyActivityWhereInput,
	ent.ErrEmptyMembershipWhereInput,
	ent.ErrEmptyOAuthAccountWhereInput,
	ent.ErrEmptyOrganizationWhereInput,
	ent.ErrEmptyPreferenceWhereInput,
	ent.ErrEmptyRefreshTokenWhereInput,
	ent.ErrEmptyRoleWhereInput,
	ent.ErrEmptyUserWhereInput,
}

func isEmptyWhere(err error) bool {
	for _, e := range emptyWhere {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

const (
	msgTooComplexSQL = "the filters of this query are too many or too deeply nested for the database: use fewer, flatter conditions or shorter lists"
	msgNUL           = "a string holds a character the database cannot store (NUL, U+0000, or invalid UTF-8): remove it"
	// pgxTooManyParams starts the error of pgx (no type) for a statement
	// with more than 65535 arguments.
	pgxTooManyParams = "extended protocol limited to"
)

type dbError struct {
	// match, when set, must occur in the database's message.
	match     string
	code, msg string
}

// pgErrors maps PostgreSQL SQLSTATEs that a caller's input causes to what
// the caller sees. Any other database error is INTERNAL.
var pgErrors = map[string]dbError{
	"42501": {match: "row-level security", code: CodeForbidden, msg: "forbidden: the database's row-level security refuses this write"}, // insufficient_privilege: a policy (or guard) of the second tenant boundary
	"22021": {code: CodeBadUserInput, msg: msgNUL},                                                                                      // character_not_in_repertoire: NUL in text
	"22P05": {code: CodeBadUserInput, msg: msgNUL},                                                                                      // untranslatable_character: \u0000 in jsonb
	"22001": {code: CodeBadUserInput, msg: "a value is longer than its field allows: shorten it"},                                       // string_data_right_truncation
	"22003": {code: CodeBadUserInput, msg: "a number is out of the range its field allows"},                                             // numeric_value_out_of_range
	"22008": {code: CodeBadUserInput, msg: "a time is out of the range the database can store"},                                         // datetime_field_overflow
	"22007": {code: CodeBadUserInput, msg: msgCursorOrder},                                                                              // invalid_datetime_format: a cursor value compared with a time column
	"22P02": {code: CodeBadUserInput, msg: msgCursorOrder},                                                                              // invalid_text_representation: a cursor value compared with a column of another type
	"54000": {code: CodeTooComplex, msg: msgTooComplexSQL},                                                                              // program_limit_exceeded
	"54001": {code: CodeTooComplex, msg: msgTooComplexSQL},                                                                              // statement_too_complex (stack depth limit exceeded)
	"54023": {code: CodeTooComplex, msg: msgTooComplexSQL},                                                                              // too_many_arguments
	"42601": {match: "memory exhausted", code: CodeTooComplex, msg: msgTooComplexSQL},                                                   // the SQL parser's stack: a syntax_error only by its code
	"2201B": {code: CodeBadUserInput, msg: "a pattern of this query is not valid for the database"},                                     // invalid_regular_expression
	"22025": {code: CodeBadUserInput, msg: "a text filter ends with an escape character (\\): escape it or remove it"},                  // invalid_escape_sequence
}

// sqliteErrors are SQLite errors that a caller's input causes. SQLite
// reports most of them with the generic SQLITE_ERROR code, so its message
// tells them apart.
var sqliteErrors = []struct {
	errno sqlite3.ErrNo
	dbError
}{
	{sqlite3.ErrError, dbError{match: "LIKE or GLOB pattern too complex", code: CodeBadUserInput,
		msg: "a text filter (such as emailContains) is too long or holds too many wildcards for the database: shorten it"}},
	{sqlite3.ErrError, dbError{match: "Expression tree is too large", code: CodeTooComplex, msg: msgTooComplexSQL}},
	{sqlite3.ErrError, dbError{match: "too many SQL variables", code: CodeTooComplex, msg: msgTooComplexSQL}},
	{sqlite3.ErrError, dbError{match: "Recursion limit", code: CodeTooComplex, msg: msgTooComplexSQL}},
	{sqlite3.ErrError, dbError{match: "parser stack overflow", code: CodeTooComplex, msg: msgTooComplexSQL}},
	{sqlite3.ErrError, dbError{match: "too many terms in compound SELECT", code: CodeTooComplex, msg: msgTooComplexSQL}},
	{sqlite3.ErrTooBig, dbError{code: CodeBadUserInput, msg: "a value is too large for the database: shorten it"}},
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

// authCode returns the code of an error of package session, or "".
func authCode(err error) string {
	_, code, _, _ := authError(err)
	return code
}

// denyReason returns the reason of a privacy.Denyf decision in the chain
// of err (its text before ": ent/privacy: deny rule"), or "".
func denyReason(err error) string {
	const suffix = ": " + "ent/privacy: deny rule"
	for e := err; e != nil; e = errors.Unwrap(e) {
		if m := e.Error(); strings.HasSuffix(m, suffix) {
			if _, wrapped := e.(interface{ Unwrap() error }); wrapped {
				if inner := errors.Unwrap(e); inner != nil && inner.Error() == privacy.Deny.Error() {
					return strings.TrimSuffix(m, suffix)
				}
			}
		}
	}
	return ""
}
