package session

import (
	"context"
	"errors"
	"fmt"

	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/oauthaccount"
	"github.com/cf/identity/ent/signingkey"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

// Sealer returns the sealer of m's master keys: it seals with
// Config.MasterKey and opens values sealed with it or with one of
// Config.PreviousMasterKeys. Packages that keep secrets under the same
// master key (the OAuth provider tokens of cf_oauth_accounts, sealed with
// the context "<account ID>:access_token" or "<account ID>:refresh_token")
// seal and open them with it, so that Reseal and SealedStatus find them.
func (m *Manager) Sealer() *secret.Sealer { return m.sealer }

// DefaultResealBatch is the number of rows Reseal re-seals per transaction
// when `identity keys rotate` is given no --batch.
const DefaultResealBatch = 500

// LegacyKeyID is the key ID that SealedStatus and ResealReport.Remaining
// give to values sealed before sealed values recorded their key.
const LegacyKeyID = "legacy"

// ResealReport tells what Reseal did.
type ResealReport struct {
	// SigningKeys counts the private signing keys re-sealed under the
	// current master key, OAuthTokens the OAuth provider tokens (access
	// and refresh tokens count one each).
	SigningKeys, OAuthTokens int
	// Remaining counts, by master key ID (LegacyKeyID for values that do
	// not record theirs), the values still sealed under another key than
	// the current one. It is empty after a complete run: the previous
	// master keys may then be removed.
	Remaining map[string]int
}

// ErrUnopenable is matched by an *UnopenableError.
var ErrUnopenable = errors.New("session: no configured master key opens a stored sealed value")

// UnopenableError is returned by Reseal for a stored value that neither the
// master key nor a previous master key opens (sealed with a key that is not
// configured, or damaged). It names where the value is, never the value.
// For a signing key it matches ErrMasterKey too.
type UnopenableError struct {
	Table, Column string
	ID            pulid.ID
}

func (e *UnopenableError) Error() string {
	return fmt.Sprintf("session: no configured master key opens %s.%s of row %s; add the master key it was sealed with to the previous keys", e.Table, e.Column, e.ID)
}

// Is reports whether target is ErrUnopenable, or ErrMasterKey for a
// signing key.
func (e *UnopenableError) Is(target error) bool {
	return target == ErrUnopenable || (target == ErrMasterKey && e.Table == signingkey.Table)
}

// Unwrap returns secret.ErrOpen.
func (e *UnopenableError) Unwrap() error { return secret.ErrOpen }

// oauthTokenContext is the context of an OAuth token sealed in column of
// account id.
func oauthTokenContext(id pulid.ID, column string) string { return string(id) + ":" + column }

// resealActor returns ctx acting as the system: the caller's system actor
// when it has one (its reason names the run in the trail), otherwise the
// system actor "keys reseal".
func resealActor(ctx context.Context) context.Context {
	if actor.FromContext(ctx).IsSystem() {
		return ctx
	}
	return actor.NewContext(ctx, actor.System("keys reseal"))
}

// Reseal re-seals under the current master key every stored value sealed
// under a previous master key (or in the format that does not record its
// key): the private signing keys of cf_signing_keys and the OAuth access
// and refresh tokens of cf_oauth_accounts. Plaintexts do not change.
//
// It works through each table in the order of the IDs, batch rows per
// transaction; each batch locks its rows and re-reads them (a concurrent
// writer either commits first and is re-sealed, or waits), so a run can
// go on while servers keep running, and an interrupted run continues where
// it stopped when started again. A second run finds nothing to do.
//
// A value that no configured master key opens stops the run with an
// *UnopenableError (matching ErrUnopenable); the report then counts what
// was re-sealed until then, which stays committed. A run that re-sealed
// anything records one activity, keys.resealed, with the counts.
func (m *Manager) Reseal(ctx context.Context, batch int) (ResealReport, error) {
	var r ResealReport
	if batch < 1 {
		return r, fmt.Errorf("session: reseal batch %d: want at least 1", batch)
	}
	sys := trail.Domain(resealActor(ctx))
	n, err := resealTable(sys, m, batch, m.resealSigningKeys)
	r.SigningKeys = n
	if err == nil {
		n, err = resealTable(sys, m, batch, m.resealOAuthTokens)
		r.OAuthTokens = n
	}
	if r.SigningKeys+r.OAuthTokens > 0 {
		rerr := trail.Record(sys, m.client, trail.Event{
			Verb: "keys.resealed", ObjectType: "MasterKey", ObjectID: pulid.ID(m.sealer.KeyID()),
			Data: map[string]any{
				"signing_keys": r.SigningKeys, "oauth_tokens": r.OAuthTokens, "complete": err == nil,
			},
		})
		if err == nil && rerr != nil {
			err = fmt.Errorf("session: reseal: %w", rerr)
		}
	}
	status, serr := m.SealedStatus(ctx)
	if serr == nil {
		delete(status, m.sealer.KeyID())
		r.Remaining = status
	} else if err == nil {
		err = serr
	}
	return r, err
}

// batchResult is what one batch of a table did.
type batchResult struct {
	resealed int      // values re-sealed
	rows     int      // rows read
	last     pulid.ID // the last row read
}

// resealTable runs fn over the rows of a table, batch by batch, each in a
// transaction of its own, and returns the number of values re-sealed.
func resealTable(ctx context.Context, m *Manager, batch int, fn func(context.Context, *ent.Client, pulid.ID, int) (batchResult, error)) (int, error) {
	var total int
	var after pulid.ID
	for {
		res, err := withTx(ctx, m.client, func(c *ent.Client) (batchResult, error) {
			return fn(ctx, c, after, batch)
		})
		total += res.resealed // a value no key opens keeps its batch's work
		if err != nil {
			return total, err
		}
		if res.rows < batch {
			return total, nil
		}
		after = res.last
	}
}

// resealSigningKeys re-seals the private keys of the batch of signing keys
// after the ID after. The private key is immutable through ent (a key pair
// never changes, only how it is sealed), so the column is written with an
// UPDATE of its own, under the lock of the batch.
func (m *Manager) resealSigningKeys(ctx context.Context, c *ent.Client, after pulid.ID, batch int) (batchResult, error) {
	var res batchResult
	var d string
	rows, err := c.SigningKey.Query().
		Where(signingkey.IDGT(after), func(s *sql.Selector) { d = s.Dialect(); forUpdate(s) }).
		Order(ent.Asc(signingkey.FieldID)).Limit(batch).
		Select(signingkey.FieldID, signingkey.FieldPrivateKey).
		All(ctx)
	if err != nil {
		return res, fmt.Errorf("session: reseal: reading signing keys: %w", err)
	}
	for _, row := range rows {
		res.rows++
		res.last = row.ID
		box, changed, err := m.sealer.Reseal(row.PrivateKey, string(row.ID))
		if err != nil {
			return res, keep(&UnopenableError{Table: signingkey.Table, Column: signingkey.FieldPrivateKey, ID: row.ID})
		}
		if !changed {
			continue
		}
		query, args := sql.Dialect(d).Update(signingkey.Table).
			Set(signingkey.FieldPrivateKey, box).
			Where(sql.EQ(signingkey.FieldID, row.ID)).
			Query()
		out, err := c.ExecContext(ctx, query, args...)
		if err != nil {
			return res, fmt.Errorf("session: reseal: writing signing key %s: %w", row.ID, err)
		}
		if n, err := out.RowsAffected(); err != nil {
			return res, fmt.Errorf("session: reseal: writing signing key %s: %w", row.ID, err)
		} else if n != 1 {
			return res, fmt.Errorf("session: reseal: writing signing key %s: %d rows written, want 1", row.ID, n)
		}
		res.resealed++
	}
	return res, nil
}

// resealOAuthTokens re-seals the non-empty tokens of the batch of OAuth
// accounts after the ID after.
func (m *Manager) resealOAuthTokens(ctx context.Context, c *ent.Client, after pulid.ID, batch int) (batchResult, error) {
	var res batchResult
	rows, err := c.OAuthAccount.Query().
		Where(oauthaccount.IDGT(after), forUpdate).
		Order(ent.Asc(oauthaccount.FieldID)).Limit(batch).
		Select(oauthaccount.FieldID, oauthaccount.FieldAccessToken, oauthaccount.FieldRefreshToken).
		All(ctx)
	if err != nil {
		return res, fmt.Errorf("session: reseal: reading OAuth accounts: %w", err)
	}
	for _, row := range rows {
		res.rows++
		res.last = row.ID
		upd := c.OAuthAccount.UpdateOneID(row.ID)
		n := 0
		for _, t := range []struct {
			column string
			value  secret.Sealed
			set    func(secret.Sealed) *ent.OAuthAccountUpdateOne
		}{
			{oauthaccount.FieldAccessToken, row.AccessToken, upd.SetAccessToken},
			{oauthaccount.FieldRefreshToken, row.RefreshToken, upd.SetRefreshToken},
		} {
			if t.value.IsZero() {
				continue
			}
			box, changed, err := m.sealer.Reseal(t.value, oauthTokenContext(row.ID, t.column))
			if err != nil {
				return res, keep(&UnopenableError{Table: oauthaccount.Table, Column: t.column, ID: row.ID})
			}
			if changed {
				t.set(box)
				n++
			}
		}
		if n == 0 {
			continue
		}
		if err := upd.Exec(ctx); err != nil {
			return res, fmt.Errorf("session: reseal: writing OAuth account %s: %w", row.ID, err)
		}
		res.resealed += n
	}
	return res, nil
}

// SealedStatus counts the stored sealed values (private signing keys and
// non-empty OAuth tokens) by the ID of the master key they are sealed
// under, LegacyKeyID for values that do not record it. It reads the
// values' headers only: it opens nothing. After a complete Reseal, every
// value is under Sealer().KeyID().
func (m *Manager) SealedStatus(ctx context.Context) (map[string]int, error) {
	sys := resealActor(ctx)
	counts := map[string]int{}
	add := func(v secret.Sealed) {
		if v.IsZero() {
			return
		}
		id := v.KeyID()
		if id == "" {
			id = LegacyKeyID
		}
		counts[id]++
	}
	for after := pulid.ID(""); ; {
		rows, err := m.client.SigningKey.Query().Where(signingkey.IDGT(after)).
			Order(ent.Asc(signingkey.FieldID)).Limit(DefaultResealBatch).
			Select(signingkey.FieldID, signingkey.FieldPrivateKey).All(sys)
		if err != nil {
			return nil, fmt.Errorf("session: reading signing keys: %w", err)
		}
		for _, r := range rows {
			add(r.PrivateKey)
		}
		if len(rows) < DefaultResealBatch {
			break
		}
		after = rows[len(rows)-1].ID
	}
	for after := pulid.ID(""); ; {
		rows, err := m.client.OAuthAccount.Query().Where(oauthaccount.IDGT(after)).
			Order(ent.Asc(oauthaccount.FieldID)).Limit(DefaultResealBatch).
			Select(oauthaccount.FieldID, oauthaccount.FieldAccessToken, oauthaccount.FieldRefreshToken).All(sys)
		if err != nil {
			return nil, fmt.Errorf("session: reading OAuth accounts: %w", err)
		}
		for _, r := range rows {
			add(r.AccessToken)
			add(r.RefreshToken)
		}
		if len(rows) < DefaultResealBatch {
			break
		}
		after = rows[len(rows)-1].ID
	}
	return counts, nil
}
