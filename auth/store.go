package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database"
)

// Migrations create the auth module's tables: the public keys every instance verifies
// tokens with, and the ownership of users who were issued tokens (served by userinfo).
var Migrations = []database.Migration{{
	Module:  "auth",
	Version: 1,
	SQL: `CREATE TABLE auth_public_keys (
		kid TEXT PRIMARY KEY,
		jwk TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX auth_public_keys_expires ON auth_public_keys (expires_at);
	CREATE TABLE auth_user_info (
		user_entity_ref TEXT PRIMARY KEY,
		ownership_entity_refs TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	);`,
}, {
	// Version 2 records the auth.environment of the instance that made each key, so that a
	// development instance sharing the database cannot mint tokens production accepts.
	// Keys stored before have no environment ('') and verify nothing.
	Module:  "auth",
	Version: 2,
	SQL:     `ALTER TABLE auth_public_keys ADD COLUMN environment TEXT NOT NULL DEFAULT ''`,
}, {
	// Version 3 remembers the sign-ins that were logged out (a key of the user, iat and exp
	// their tokens share), until their tokens expire, so that a copy of a session's token
	// opens nothing after its logout.
	Module:  "auth",
	Version: 3,
	SQL: `CREATE TABLE auth_ended_sessions (
		token_hash TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX auth_ended_sessions_expires ON auth_ended_sessions (expires_at);`,
}}

// PublicKey is a signing key's public half as stored: the JWK, its validity and the
// environment of the instance that made it.
type PublicKey struct {
	JWK JWK
	// Environment is the auth.environment of the instance that made the key. A key verifies
	// tokens only on instances of the same environment; "" (keys stored before environments
	// were recorded) verifies nothing.
	Environment config.Environment
	CreatedAt   time.Time
	// ExpiresAt is when the key stops verifying tokens; it is then purged.
	ExpiresAt time.Time
}

// UserInfo is a user's identity as GET /api/auth/v1/userinfo serves it.
type UserInfo struct {
	UserEntityRef       string   `json:"userEntityRef"`
	OwnershipEntityRefs []string `json:"ownershipEntityRefs"`
}

// ErrKeyNotFound means no stored public key has the kid.
var ErrKeyNotFound = errors.New("public key not found")

// ErrUserNotFound means no user info is stored for the ref.
var ErrUserNotFound = errors.New("user info not found")

// Store keeps public keys and user info. [DBStore] shares them between instances through the
// database; [MemoryStore] is for one process and tests. Implementations are safe for
// concurrent use.
type Store interface {
	// AddPublicKey stores a key; its kid is new.
	AddPublicKey(ctx context.Context, k PublicKey) error
	// PublicKey returns the key with the kid, expired or not, or ErrKeyNotFound.
	PublicKey(ctx context.Context, kid string) (PublicKey, error)
	// PublicKeys returns the keys that have not expired at now, oldest first.
	PublicKeys(ctx context.Context, now time.Time) ([]PublicKey, error)
	// PurgePublicKeys deletes the keys that expired before now and returns how many.
	PurgePublicKeys(ctx context.Context, now time.Time) (int64, error)
	// SetUserInfo stores (replaces) a user's info.
	SetUserInfo(ctx context.Context, info UserInfo) error
	// UserInfo returns a user's info, or ErrUserNotFound.
	UserInfo(ctx context.Context, userEntityRef string) (UserInfo, error)
	// EndSession remembers a logged-out session (by its key) until expires.
	EndSession(ctx context.Context, session string, expires time.Time) error
	// SessionEnded reports whether the session was logged out.
	SessionEnded(ctx context.Context, session string) (bool, error)
	// PurgeEndedSessions forgets the ended sessions whose tokens expired before now.
	PurgeEndedSessions(ctx context.Context, now time.Time) (int64, error)
}

// DBStore is the [Store] in the shared database (tables from [Migrations]).
type DBStore struct {
	db *database.DB
}

var _ Store = (*DBStore)(nil)

// NewDBStore returns a store on db, which must have [Migrations] applied.
func NewDBStore(db *database.DB) *DBStore { return &DBStore{db: db} }

// AddPublicKey implements Store.
func (s *DBStore) AddPublicKey(ctx context.Context, k PublicKey) error {
	b, err := json.Marshal(k.JWK)
	if err != nil {
		return fmt.Errorf("encode public key %s: %w", k.JWK.Kid, err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_public_keys (kid, jwk, environment, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		k.JWK.Kid, string(b), string(k.Environment), k.CreatedAt.UnixMilli(), k.ExpiresAt.UnixMilli()); err != nil {
		return fmt.Errorf("store public key %s: %w", k.JWK.Kid, err)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanKey(row rowScanner) (PublicKey, error) {
	var raw, env string
	var created, expires int64
	if err := row.Scan(&raw, &env, &created, &expires); err != nil {
		return PublicKey{}, err
	}
	k := PublicKey{Environment: config.Environment(env)}
	if err := json.Unmarshal([]byte(raw), &k.JWK); err != nil {
		return PublicKey{}, fmt.Errorf("decode stored public key: %w", err)
	}
	k.CreatedAt, k.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	return k, nil
}

// PublicKey implements Store.
func (s *DBStore) PublicKey(ctx context.Context, kid string) (PublicKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT jwk, environment, created_at, expires_at FROM auth_public_keys WHERE kid = $1`, kid))
	if errors.Is(err, sql.ErrNoRows) {
		return PublicKey{}, ErrKeyNotFound
	}
	if err != nil {
		return PublicKey{}, fmt.Errorf("read public key: %w", err)
	}
	return k, nil
}

// PublicKeys implements Store.
func (s *DBStore) PublicKeys(ctx context.Context, now time.Time) ([]PublicKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT jwk, environment, created_at, expires_at FROM auth_public_keys WHERE expires_at > $1 ORDER BY created_at, kid`, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list public keys: %w", err)
	}
	defer rows.Close()
	var out []PublicKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list public keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list public keys: %w", err)
	}
	return out, nil
}

// PurgePublicKeys implements Store.
func (s *DBStore) PurgePublicKeys(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_public_keys WHERE expires_at <= $1`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("purge public keys: %w", err)
	}
	return res.RowsAffected()
}

// SetUserInfo implements Store.
func (s *DBStore) SetUserInfo(ctx context.Context, info UserInfo) error {
	b, err := json.Marshal(info.OwnershipEntityRefs)
	if err != nil {
		return fmt.Errorf("encode user info: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_user_info (user_entity_ref, ownership_entity_refs, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_entity_ref) DO UPDATE SET ownership_entity_refs = excluded.ownership_entity_refs, updated_at = excluded.updated_at`,
		info.UserEntityRef, string(b), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store user info of %s: %w", info.UserEntityRef, err)
	}
	return nil
}

// UserInfo implements Store.
func (s *DBStore) UserInfo(ctx context.Context, ref string) (UserInfo, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT ownership_entity_refs FROM auth_user_info WHERE user_entity_ref = $1`, ref).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return UserInfo{}, ErrUserNotFound
	}
	if err != nil {
		return UserInfo{}, fmt.Errorf("read user info of %s: %w", ref, err)
	}
	info := UserInfo{UserEntityRef: ref}
	if err := json.Unmarshal([]byte(raw), &info.OwnershipEntityRefs); err != nil {
		return UserInfo{}, fmt.Errorf("decode user info of %s: %w", ref, err)
	}
	return info, nil
}

// EndSession implements Store.
func (s *DBStore) EndSession(ctx context.Context, hash string, expires time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_ended_sessions (token_hash, expires_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING`,
		hash, expires.UnixMilli()); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// SessionEnded implements Store.
func (s *DBStore) SessionEnded(ctx context.Context, hash string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM auth_ended_sessions WHERE token_hash = $1`, hash).Scan(&n); err != nil {
		return false, fmt.Errorf("check session: %w", err)
	}
	return n > 0, nil
}

// PurgeEndedSessions implements Store.
func (s *DBStore) PurgeEndedSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_ended_sessions WHERE expires_at <= $1`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("purge ended sessions: %w", err)
	}
	return res.RowsAffected()
}

// MemoryStore is a [Store] in process memory: one instance only, nothing survives a
// restart. It is for tests and tools.
type MemoryStore struct {
	mu    sync.Mutex
	keys  map[string]PublicKey
	users map[string]UserInfo
	ended map[string]time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{keys: map[string]PublicKey{}, users: map[string]UserInfo{}, ended: map[string]time.Time{}}
}

// AddPublicKey implements Store.
func (m *MemoryStore) AddPublicKey(_ context.Context, k PublicKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.keys[k.JWK.Kid]; dup {
		return fmt.Errorf("store public key %s: duplicate kid", k.JWK.Kid)
	}
	m.keys[k.JWK.Kid] = k
	return nil
}

// PublicKey implements Store.
func (m *MemoryStore) PublicKey(_ context.Context, kid string) (PublicKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[kid]
	if !ok {
		return PublicKey{}, ErrKeyNotFound
	}
	return k, nil
}

// PublicKeys implements Store.
func (m *MemoryStore) PublicKeys(_ context.Context, now time.Time) ([]PublicKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PublicKey
	for _, k := range m.keys {
		if k.ExpiresAt.After(now) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].JWK.Kid < out[j].JWK.Kid
	})
	return out, nil
}

// PurgePublicKeys implements Store.
func (m *MemoryStore) PurgePublicKeys(_ context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for kid, k := range m.keys {
		if !k.ExpiresAt.After(now) {
			delete(m.keys, kid)
			n++
		}
	}
	return n, nil
}

// SetUserInfo implements Store.
func (m *MemoryStore) SetUserInfo(_ context.Context, info UserInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	info.OwnershipEntityRefs = append([]string(nil), info.OwnershipEntityRefs...)
	m.users[info.UserEntityRef] = info
	return nil
}

// UserInfo implements Store.
func (m *MemoryStore) UserInfo(_ context.Context, ref string) (UserInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.users[ref]
	if !ok {
		return UserInfo{}, ErrUserNotFound
	}
	info.OwnershipEntityRefs = append([]string(nil), info.OwnershipEntityRefs...)
	return info, nil
}

// EndSession implements Store.
func (m *MemoryStore) EndSession(_ context.Context, hash string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended[hash] = expires
	return nil
}

// SessionEnded implements Store.
func (m *MemoryStore) SessionEnded(_ context.Context, hash string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.ended[hash]
	return ok, nil
}

// PurgeEndedSessions implements Store.
func (m *MemoryStore) PurgeEndedSessions(_ context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for h, exp := range m.ended {
		if !exp.After(now) {
			delete(m.ended, h)
			n++
		}
	}
	return n, nil
}
