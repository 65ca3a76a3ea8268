package account

import (
	"context"
	"strings"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
)

// ByEmail returns the user with this email, compared case-insensitively
// (emails are stored lower-case), as the actor of ctx: a user the actor
// may not read is not found (*ent.NotFoundError), like an unknown email.
func ByEmail(ctx context.Context, client *ent.Client, email string) (*ent.User, error) {
	return client.User.Query().Where(user.Email(strings.ToLower(strings.TrimSpace(email)))).Only(ctx)
}
