package session

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/signingkey"
	"github.com/cf/identity/pulid"
)

// signerMaxAge is how long a server signs with the newest key it loaded
// before it looks for a newer one; a key replaced by RotateKeys keeps
// verifying for AccessTTL + 2*signerMaxAge, so every token it signed
// expires before it stops verifying.
const signerMaxAge = 30 * time.Second

// reloadEvery bounds how often an unknown kid reloads the keys.
const reloadEvery = time.Second

// keyring caches the signing keys of the database.
type keyring struct {
	m *Manager

	mu       sync.Mutex
	sign     *accesstoken.SigningKey
	signAt   time.Time
	public   map[string]pubKey
	loadedAt time.Time
}

type pubKey struct {
	key         ed25519.PublicKey
	verifyUntil *time.Time
}

func newKeyring(m *Manager) *keyring { return &keyring{m: m, public: map[string]pubKey{}} }

// signer returns the key that signs new tokens: the newest key not yet
// replaced, created when there is none.
func (k *keyring) signer(ctx context.Context) (accesstoken.SigningKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.m.now()
	if k.sign != nil && now.Sub(k.signAt) < signerMaxAge {
		return *k.sign, nil
	}
	if err := k.loadLocked(ctx); err != nil {
		return accesstoken.SigningKey{}, err
	}
	row, err := k.m.client.SigningKey.Query().
		Where(signingkey.VerifyUntilIsNil()).
		Order(ent.Desc(signingkey.FieldCreatedAt), ent.Desc(signingkey.FieldID)).
		First(system(ctx))
	if ent.IsNotFound(err) {
		row, err = k.create(ctx, k.m.client)
	}
	if err != nil {
		return accesstoken.SigningKey{}, fmt.Errorf("session: loading the signing key: %w", err)
	}
	priv, err := k.open(row)
	if err != nil {
		return accesstoken.SigningKey{}, err
	}
	k.sign = &accesstoken.SigningKey{ID: string(row.ID), Private: priv}
	k.signAt = now
	k.public[string(row.ID)] = pubKey{key: ed25519.PublicKey(row.PublicKey), verifyUntil: row.VerifyUntil}
	return *k.sign, nil
}

func (k *keyring) open(row *ent.SigningKey) (ed25519.PrivateKey, error) {
	seed, err := k.m.sealer.Open(row.PrivateKey, string(row.ID))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w (key %s)", ErrMasterKey, row.ID)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(row.PublicKey)) {
		return nil, fmt.Errorf("%w (key %s does not match its public half)", ErrMasterKey, row.ID)
	}
	return priv, nil
}

// create stores a new key pair through c.
func (k *keyring) create(ctx context.Context, c *ent.Client) (*ent.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("session: generating a signing key: %w", err)
	}
	id := pulid.New("sgk")
	sealed, err := k.m.sealer.Seal(priv.Seed(), string(id))
	if err != nil {
		return nil, err
	}
	return c.SigningKey.Create().SetID(id).SetPublicKey(pub).SetPrivateKey(sealed).Save(system(ctx))
}

// loadLocked reloads the public keys that still verify.
func (k *keyring) loadLocked(ctx context.Context) error {
	rows, err := k.m.client.SigningKey.Query().
		Where(signingkey.Or(signingkey.VerifyUntilIsNil(), signingkey.VerifyUntilGT(k.m.now()))).
		Select(signingkey.FieldID, signingkey.FieldPublicKey, signingkey.FieldVerifyUntil, signingkey.FieldCreatedAt).
		All(system(ctx))
	if err != nil {
		return fmt.Errorf("session: loading the public keys: %w", err)
	}
	pub := make(map[string]pubKey, len(rows))
	for _, r := range rows {
		pub[string(r.ID)] = pubKey{key: ed25519.PublicKey(r.PublicKey), verifyUntil: r.VerifyUntil}
	}
	k.public = pub
	k.loadedAt = k.m.now()
	return nil
}

// PublicKey implements accesstoken.KeySource over the database's keys: an
// unknown kid reloads them (at most once a second), so keys added by
// another server are found.
func (k *keyring) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.m.now()
	p, ok := k.public[kid]
	if !ok && now.Sub(k.loadedAt) >= reloadEvery {
		if err := k.loadLocked(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", accesstoken.ErrKeysUnavailable, err)
		}
		p, ok = k.public[kid]
	}
	if !ok || (p.verifyUntil != nil && !now.Before(*p.verifyUntil)) {
		return nil, accesstoken.ErrUnknownKey
	}
	return p.key, nil
}

// JWKS returns the JSON Web Key Set of the keys that verify access tokens
// now, for GET /.well-known/jwks.json.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	k := m.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if m.now().Sub(k.loadedAt) >= reloadEvery {
		if err := k.loadLocked(ctx); err != nil {
			return nil, err
		}
	}
	keys := make([]accesstoken.PublicKey, 0, len(k.public))
	for id, p := range k.public {
		if p.verifyUntil == nil || m.now().Before(*p.verifyUntil) {
			keys = append(keys, accesstoken.PublicKey{ID: id, Key: p.key})
		}
	}
	return accesstoken.MarshalJWKS(keys)
}

// RotateKeys adds a new signing key and retires the current ones: they
// keep verifying until every token they signed has expired. It returns the
// new key's ID (the kid of the tokens it signs).
func (m *Manager) RotateKeys(ctx context.Context) (string, error) {
	// Tokens of the retired keys verify until they have expired, whatever
	// access-token lifetime the servers run with (at most 24 h, see
	// Config): the command that rotates may not know theirs.
	until := m.now().Add(maxAccessTTL + 2*signerMaxAge)
	row, err := withTx(ctx, m.client, func(c *ent.Client) (*ent.SigningKey, error) {
		if err := c.SigningKey.Update().Where(signingkey.VerifyUntilIsNil()).SetVerifyUntil(until).Exec(system(ctx)); err != nil {
			return nil, err
		}
		return m.keys.create(ctx, c)
	})
	if err != nil {
		return "", fmt.Errorf("session: rotating keys: %w", err)
	}
	m.keys.mu.Lock()
	m.keys.sign = nil
	m.keys.loadedAt = time.Time{}
	m.keys.mu.Unlock()
	return string(row.ID), nil
}

var _ accesstoken.KeySource = (*keyring)(nil)
