package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

func newSealer(t testing.TB, current []byte, previous ...[]byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacySeal seals plaintext the way values were sealed before they
// recorded their key (nonce || ciphertext, the context as additional
// data): such values are in databases already.
func legacySeal(t testing.TB, key, plaintext []byte, context string) []byte {
	t.Helper()
	k := sha256.Sum256(key)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// ph is the n-th placeholder of the dialect of db.
func ph(db testdb.Target, n int) string {
	if db.Dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// sealedTokens are the plaintexts of an account's tokens ("" for none).
type sealedTokens struct{ access, refresh string }

// addAccount stores an OAuth account of user uid whose tokens seal with s
// (or, legacy, in the format that does not record the key).
func addAccount(t testing.TB, e *env, uid pulid.ID, n int, s *secret.Sealer, key []byte, legacy bool, tok sealedTokens) pulid.ID {
	t.Helper()
	id := pulid.New("oac")
	q := e.c.OAuthAccount.Create().SetID(id).SetUserID(uid).
		SetProvider("github").SetProviderUserID(fmt.Sprint(1000 + n)).SetProviderEmail(fmt.Sprintf("gh%d@example.com", n))
	seal := func(plain, column string) secret.Sealed {
		if legacy {
			var v secret.Sealed
			if err := v.Scan(legacySeal(t, key, []byte(plain), string(id)+":"+column)); err != nil {
				t.Fatal(err)
			}
			return v
		}
		v, err := s.Seal([]byte(plain), string(id)+":"+column)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if tok.access != "" {
		q.SetAccessToken(seal(tok.access, "access_token"))
	}
	if tok.refresh != "" {
		q.SetRefreshToken(seal(tok.refresh, "refresh_token"))
	}
	q.SaveX(sys())
	return id
}

// openAll opens every stored sealed value with s and returns the
// plaintexts by "table/row/column"; it fails t for a value s does not
// open.
func openAll(t testing.TB, e *env, s *secret.Sealer) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range e.c.SigningKey.Query().AllX(sys()) {
		seed, err := s.Open(k.PrivateKey, string(k.ID))
		if err != nil {
			t.Errorf("signing key %s does not open: %v", k.ID, err)
		}
		out["sgk/"+string(k.ID)] = hex.EncodeToString(seed)
	}
	for _, a := range e.c.OAuthAccount.Query().AllX(sys()) {
		for col, v := range map[string]secret.Sealed{"access_token": a.AccessToken, "refresh_token": a.RefreshToken} {
			if v.IsZero() {
				continue
			}
			p, err := s.Open(v, string(a.ID)+":"+col)
			if err != nil {
				t.Errorf("%s of account %s does not open: %v", col, a.ID, err)
			}
			out["oac/"+string(a.ID)+"/"+col] = string(p)
		}
	}
	return out
}

func resealActivities(t testing.TB, e *env) []*ent.Activity {
	t.Helper()
	return e.c.Activity.Query().Where(activity.Verb("keys.resealed")).AllX(sys())
}

// A master key replaced by another: the old key as a previous key opens
// everything, Reseal moves every value under the new key in small batches,
// after which the new key alone opens everything, and a second run does
// nothing.
func TestReseal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		ctx := context.Background()
		keyA, keyB := randomKey(t), randomKey(t)
		e := newEnv(t, db, func(c *Config) { c.MasterKey = keyA })
		// A retired signing key beside the one that signs.
		if _, err := e.m.RotateKeys(ctx); err != nil {
			t.Fatal(err)
		}
		sealA, sealB := newSealer(t, keyA), newSealer(t, keyB)
		// One signing key in the legacy format.
		old := e.c.SigningKey.Query().Order(ent.Asc("id")).FirstX(sys())
		seed, err := sealA.Open(old.PrivateKey, string(old.ID))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.sql.ExecContext(ctx, "UPDATE cf_signing_keys SET private_key = "+ph(db, 1)+" WHERE id = "+ph(db, 2),
			legacySeal(t, keyA, seed, string(old.ID)), string(old.ID)); err != nil {
			t.Fatal(err)
		}

		u := e.user(t, "oli@example.com", testPassword)
		for i, tok := range []sealedTokens{
			{"gho_access_0", "ghr_refresh_0"},
			{"gho_access_1", ""},
			{"", ""},
			{"gho_access_3", "ghr_refresh_3"},
		} {
			addAccount(t, e, u.ID, i, sealA, keyA, false, tok)
		}
		addAccount(t, e, u.ID, 4, nil, keyA, true, sealedTokens{"gho_access_4", "ghr_refresh_4"})
		want := openAll(t, e, sealA)
		if len(want) != 2+7 {
			t.Fatalf("%d sealed values, want 9", len(want))
		}
		emails := map[pulid.ID]string{}
		for _, a := range e.c.OAuthAccount.Query().AllX(sys()) {
			emails[a.ID] = a.ProviderEmail
		}

		// B alone opens nothing.
		cfg := e.m.Config()
		cfg.MasterKey, cfg.PreviousMasterKeys = keyB, nil
		if m, err := New(ctx, e.c, cfg); m != nil || !errors.Is(err, ErrMasterKey) {
			t.Fatalf("New with the new key alone = %v, %v; want ErrMasterKey", m, err)
		}

		cfg.PreviousMasterKeys = [][]byte{keyA}
		m, err := New(ctx, e.c, cfg)
		if err != nil {
			t.Fatalf("New with the old key as a previous key: %v", err)
		}
		if m.Sealer().KeyID() != sealB.KeyID() {
			t.Errorf("Sealer().KeyID() = %s, want the new key's %s", m.Sealer().KeyID(), sealB.KeyID())
		}
		status, err := m.SealedStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(status) != fmt.Sprint(map[string]int{sealA.KeyID(): 6, LegacyKeyID: 3}) {
			t.Errorf("SealedStatus before = %v, want %s: 6 and legacy: 3", status, sealA.KeyID())
		}

		r, err := m.Reseal(ctx, 2)
		if err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		if r.SigningKeys != 2 || r.OAuthTokens != 7 || len(r.Remaining) != 0 {
			t.Errorf("Reseal = %+v; want 2 signing keys, 7 OAuth tokens, nothing remaining", r)
		}
		if got := openAll(t, e, sealB); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after Reseal the new key alone opens\n%v\nwant\n%v", got, want)
		}
		status, err = m.SealedStatus(ctx)
		if err != nil || fmt.Sprint(status) != fmt.Sprint(map[string]int{sealB.KeyID(): 9}) {
			t.Errorf("SealedStatus after = %v, %v; want %s: 9", status, err, sealB.KeyID())
		}
		for _, a := range e.c.OAuthAccount.Query().AllX(sys()) {
			if a.ProviderEmail != emails[a.ID] {
				t.Errorf("account %s: provider email %q, want %q", a.ID, a.ProviderEmail, emails[a.ID])
			}
		}
		acts := resealActivities(t, e)
		if len(acts) != 1 || acts[0].ObjectID != sealB.KeyID() || acts[0].ActorType != activity.ActorTypeSystem ||
			fmt.Sprint(acts[0].Data) != "map[complete:true oauth_tokens:7 signing_keys:2]" {
			t.Errorf("activities keys.resealed: %+v; want one, of the system, with the counts", acts)
		}
		if n := e.c.Activity.Query().Where(activity.Verb("oauth_account.updated")).CountX(sys()); n != 0 {
			t.Errorf("%d oauth_account.updated activities; the run records keys.resealed only", n)
		}

		// The old key can go now.
		cfg.PreviousMasterKeys = nil
		only, err := New(ctx, e.c, cfg)
		if err != nil {
			t.Fatalf("New with the new key alone after Reseal: %v", err)
		}
		if _, err := only.keys.signer(ctx); err != nil {
			t.Errorf("signing with the new key alone: %v", err)
		}
		// A second run has nothing to do.
		for _, mm := range []*Manager{m, only} {
			r, err = mm.Reseal(ctx, 2)
			if err != nil || r.SigningKeys != 0 || r.OAuthTokens != 0 || len(r.Remaining) != 0 {
				t.Errorf("second Reseal = %+v, %v; want nothing done", r, err)
			}
		}
		if got := openAll(t, e, sealB); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after the second Reseal\n%v\nwant\n%v", got, want)
		}
		if n := len(resealActivities(t, e)); n != 1 {
			t.Errorf("%d keys.resealed activities after a run with nothing to do, want 1", n)
		}
	})
}

// A value no configured key opens stops the run with an error that names
// its table and row, never the value; the batches before it stay
// re-sealed and are reported.
func TestResealUnopenable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		ctx := context.Background()
		keyA, keyB, keyC := randomKey(t), randomKey(t), randomKey(t)
		e := newEnv(t, db, func(c *Config) { c.MasterKey = keyA })
		sealA, sealC := newSealer(t, keyA), newSealer(t, keyC)
		u := e.user(t, "pat@example.com", testPassword)
		var ids []pulid.ID
		for i := range 4 {
			ids = append(ids, addAccount(t, e, u.ID, i, sealA, keyA, false, sealedTokens{fmt.Sprintf("gho_%d", i), ""}))
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		// The last account (in ID order) holds a token of a key not configured.
		bad, err := sealC.Seal([]byte("gho_lost"), string(ids[3])+":refresh_token")
		if err != nil {
			t.Fatal(err)
		}
		e.c.OAuthAccount.UpdateOneID(ids[3]).SetRefreshToken(bad).ExecX(sys())

		cfg := e.m.Config()
		cfg.MasterKey, cfg.PreviousMasterKeys = keyB, [][]byte{keyA}
		m, err := New(ctx, e.c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Reseal(ctx, 2)
		var ue *UnopenableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnopenable) || errors.Is(err, ErrMasterKey) ||
			ue.Table != "cf_oauth_accounts" || ue.Column != "refresh_token" || ue.ID != ids[3] {
			t.Fatalf("Reseal: %v; want an UnopenableError of the refresh token of %s", err, ids[3])
		}
		if !strings.Contains(err.Error(), string(ids[3])) || !strings.Contains(err.Error(), "cf_oauth_accounts") {
			t.Errorf("the error %q does not name the table and row", err)
		}
		raw, _ := bad.Value()
		for _, leak := range []string{"gho_lost", hex.EncodeToString(raw.([]byte)), string(raw.([]byte))} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("the error %q shows the value", err)
			}
		}
		// The signing key, the first batch and the account before the bad
		// one in its batch are done; the bad account is left as it was.
		if r.SigningKeys != 1 || r.OAuthTokens != 3 {
			t.Errorf("report %+v; want 1 signing key and 3 OAuth tokens re-sealed", r)
		}
		if fmt.Sprint(r.Remaining) != fmt.Sprint(map[string]int{sealA.KeyID(): 1, sealC.KeyID(): 1}) {
			t.Errorf("Remaining = %v; want %s: 1, %s: 1", r.Remaining, sealA.KeyID(), sealC.KeyID())
		}
		acts := resealActivities(t, e)
		if len(acts) != 1 || acts[0].Data["complete"] != false {
			t.Errorf("activities %+v; want one keys.resealed, incomplete", acts)
		}
		if _, err := m.Reseal(ctx, 0); err == nil {
			t.Error("Reseal with batch 0 did not fail")
		}

		// A signing key that no key opens matches ErrMasterKey too.
		key := e.c.SigningKey.Query().OnlyX(sys())
		lost, err := sealC.Seal(make([]byte, 32), string(key.ID))
		if err != nil {
			t.Fatal(err)
		}
		lostRaw, _ := lost.Value()
		if _, err := e.sql.ExecContext(ctx, "UPDATE cf_signing_keys SET private_key = "+ph(db, 1)+" WHERE id = "+ph(db, 2), lostRaw, string(key.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Reseal(ctx, 2); !errors.Is(err, ErrMasterKey) || !errors.As(err, &ue) || ue.ID != key.ID {
			t.Errorf("Reseal over a lost signing key: %v; want ErrMasterKey naming %s", err, key.ID)
		}
	})
}

// Tokens written while Reseal runs are not lost: each batch locks and
// re-reads its rows, so a concurrent write either lands first (and is
// found current) or waits for the batch.
func TestResealConcurrentWriters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		ctx := context.Background()
		keyA, keyB := randomKey(t), randomKey(t)
		e := newEnv(t, db, func(c *Config) { c.MasterKey = keyA })
		sealA := newSealer(t, keyA)
		u := e.user(t, "kim@example.com", testPassword)
		const n = 50
		ids := make([]pulid.ID, n)
		for i := range n {
			ids[i] = addAccount(t, e, u.ID, i, sealA, keyA, false, sealedTokens{fmt.Sprintf("old_%d", i), fmt.Sprintf("oldr_%d", i)})
		}
		cfg := e.m.Config()
		cfg.MasterKey, cfg.PreviousMasterKeys = keyB, [][]byte{keyA}
		m, err := New(ctx, e.c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, n+1)
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := m.Sealer().Seal(fmt.Appendf(nil, "new_%d", i), string(id)+":access_token")
				if err == nil {
					err = e.c.OAuthAccount.UpdateOneID(id).SetAccessToken(v).Exec(sys())
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := m.Reseal(ctx, 2); err != nil {
				errs <- fmt.Errorf("Reseal: %w", err)
			}
		}()
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		got := openAll(t, e, newSealer(t, keyB))
		for i, id := range ids {
			if a := got["oac/"+string(id)+"/access_token"]; a != fmt.Sprintf("new_%d", i) {
				t.Errorf("account %d: access token %q, want the concurrent write new_%d", i, a, i)
			}
			if r := got["oac/"+string(id)+"/refresh_token"]; r != fmt.Sprintf("oldr_%d", i) {
				t.Errorf("account %d: refresh token %q, want oldr_%d", i, r, i)
			}
		}
		if status, err := m.SealedStatus(ctx); err != nil || len(status) != 1 || status[m.Sealer().KeyID()] != 2*n+1 {
			t.Errorf("SealedStatus = %v, %v; want all %d values under the new key", status, err, 2*n+1)
		}
	})
}

// New checks the previous master keys: too short or repeated is ErrConfig.
func TestNewPreviousMasterKeys(t *testing.T) {
	db := testdb.New(t, testdb.Dialects()[0])
	c, _ := testdb.Migrated(t, db)
	key, other := randomKey(t), randomKey(t)
	tests := []struct {
		name     string
		previous [][]byte
		want     string
	}{
		{"short", [][]byte{other, other[:31]}, "previous master key 2 needs at least 32 bytes"},
		{"repeats the current key", [][]byte{key}, "repeats the current"},
		{"repeated", [][]byte{other, other}, "previous sealing key 2 repeats previous sealing key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Argon2 = secret.MinArgon2
			cfg.MasterKey, cfg.PreviousMasterKeys = key, tt.previous
			m, err := New(context.Background(), c, cfg)
			if m != nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want ErrConfig saying %q", m, err, tt.want)
			}
		})
	}
}
