package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/internal/background"
)

// signingKey is this instance's private key. It lives in memory only.
type signingKey struct {
	kid     string
	priv    *ecdsa.PrivateKey
	created time.Time
	expires time.Time // when its public key stops verifying
}

// verifyKey is a public key from the store, decoded.
type verifyKey struct {
	pub     *ecdsa.PublicKey
	env     config.Environment
	expires time.Time
}

// Errors of key lookup, mapped to refusal reasons by the verifier.
var (
	errUnknownKey = errors.New("unknown signing key")
	errKeyExpired = errors.New("signing key has expired")
)

// keyEnvironmentError means the key was made by an instance of another auth.environment
// (or, when Made is "", before environments were recorded): it verifies nothing here.
type keyEnvironmentError struct {
	Made, Here config.Environment
}

// Error says which environment made the key; the text is the refusal reason.
func (e *keyEnvironmentError) Error() string {
	if e.Made == "" {
		return fmt.Sprintf("token was signed by a key with no recorded auth.environment; this %s instance accepts only keys made in %s: get a new token", e.Here, e.Here)
	}
	return fmt.Sprintf("token was signed by an instance with auth.environment %s; this instance accepts only tokens minted in %s", e.Made, e.Here)
}

// keyring holds the instance's private key, rotates it, publishes public keys to the store,
// and caches the public keys of every instance for verification. It is safe for concurrent
// use.
type keyring struct {
	store Store
	// env is this instance's auth.environment: it is stored with every key made here, and
	// only keys made in it verify tokens.
	env      config.Environment
	rotation time.Duration
	// lifetime is how long a public key verifies after its creation: 3 × rotation, or longer
	// when tokens signed at the end of the rotation period would outlive that.
	lifetime time.Duration
	// maxTokenLife is the longest lifetime of a token the key signs.
	maxTokenLife time.Duration
	now          func() time.Time
	log          zerolog.Logger

	mu      sync.Mutex // serialises rotation
	current *signingKey

	cacheMu sync.RWMutex
	cache   map[string]verifyKey

	// loop rotates and purges between start and stop.
	loop *background.Loop
}

// keyMaintenanceTimeout bounds one rotation-and-purge round.
const keyMaintenanceTimeout = time.Minute

// newKeyring returns a keyring for the instances of env; failed rounds of rotation and purge
// are counted on reg (loop auth.keys), which may be nil.
func newKeyring(store Store, env config.Environment, rotation, maxTokenLife time.Duration, now func() time.Time, log zerolog.Logger, reg prometheus.Registerer) *keyring {
	k := &keyring{
		store:        store,
		env:          env,
		rotation:     rotation,
		lifetime:     max(3*rotation, rotation+maxTokenLife+Leeway),
		maxTokenLife: maxTokenLife,
		now:          now,
		log:          log,
		cache:        map[string]verifyKey{},
	}
	k.loop = background.New("auth.keys", k.tick(), k.maintain,
		background.WithTimeout(keyMaintenanceTimeout), background.WithLogger(log), background.WithRegisterer(reg))
	return k
}

// signer returns the key to sign with now, making (and publishing) a new one when there is
// none or the current one is due for rotation. When rotation fails, the current key is kept
// as long as tokens it signs still expire before its public key does.
func (k *keyring) signer(ctx context.Context) (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.current != nil && now.Before(k.current.created.Add(k.rotation)) {
		return k.current, nil
	}
	err := k.rotateLocked(ctx, now)
	if err == nil {
		return k.current, nil
	}
	if k.current != nil && now.Add(k.maxTokenLife+Leeway).Before(k.current.expires) {
		k.log.Error().Err(err).Str("kid", k.current.kid).Msg("signing key rotation failed; still signing with the current key")
		return k.current, nil
	}
	return nil, err
}

// rotate makes a new signing key now, whether or not one is due.
func (k *keyring) rotate(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rotateLocked(ctx, k.now())
}

// rotateLocked generates a key, stores its public half, and only then signs with it, so that
// every instance can verify what it signs.
func (k *keyring) rotateLocked(ctx context.Context, now time.Time) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	key := &signingKey{kid: uuid.NewString(), priv: priv, created: now, expires: now.Add(k.lifetime)}
	jwk, err := ecJWK(key.kid, &priv.PublicKey)
	if err != nil {
		return err
	}
	if err := k.store.AddPublicKey(ctx, PublicKey{JWK: jwk, Environment: k.env, CreatedAt: now, ExpiresAt: key.expires}); err != nil {
		return fmt.Errorf("publish signing key: %w", err)
	}
	k.cacheMu.Lock()
	k.cache[key.kid] = verifyKey{pub: &priv.PublicKey, env: k.env, expires: key.expires}
	k.cacheMu.Unlock()
	k.current = key
	k.log.Info().Str("kid", key.kid).Time("expires", key.expires).Msg("signing key rotated")
	return nil
}

// verificationKey returns the public key with the kid: from the cache, else from the store
// (a key another instance made since). It fails with errUnknownKey, errKeyExpired, or a
// *keyEnvironmentError when another auth.environment made the key.
func (k *keyring) verificationKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	k.cacheMu.RLock()
	vk, ok := k.cache[kid]
	k.cacheMu.RUnlock()
	if !ok {
		pk, err := k.store.PublicKey(ctx, kid)
		if errors.Is(err, ErrKeyNotFound) {
			return nil, errUnknownKey
		}
		if err != nil {
			return nil, err
		}
		pub, err := pk.JWK.PublicKey()
		ec, isEC := pub.(*ecdsa.PublicKey)
		if err != nil || !isEC || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: stored key is not a P-256 key", errUnknownKey)
		}
		vk = verifyKey{pub: ec, env: pk.Environment, expires: pk.ExpiresAt}
		k.cacheMu.Lock()
		k.cache[kid] = vk
		k.cacheMu.Unlock()
	}
	if vk.env != k.env {
		return nil, &keyEnvironmentError{Made: vk.env, Here: k.env}
	}
	if !k.now().Before(vk.expires) {
		return nil, errKeyExpired
	}
	return vk.pub, nil
}

// purge deletes expired public keys from the store and the cache.
func (k *keyring) purge(ctx context.Context) (int64, error) {
	now := k.now()
	n, err := k.store.PurgePublicKeys(ctx, now)
	if err != nil {
		return 0, err
	}
	k.cacheMu.Lock()
	for kid, vk := range k.cache {
		if !now.Before(vk.expires) {
			delete(k.cache, kid)
		}
	}
	k.cacheMu.Unlock()
	return n, nil
}

// tick is how often the background loop checks for rotation and purges: a quarter of the
// rotation period, between 1s and 5m.
func (k *keyring) tick() time.Duration {
	return min(max(k.rotation/4, time.Second), 5*time.Minute)
}

// maintain is one round of the background loop: rotate when due, purge expired keys and
// the ended sessions of expired tokens.
func (k *keyring) maintain(ctx context.Context) error {
	var errs []error
	if _, err := k.signer(ctx); err != nil {
		errs = append(errs, fmt.Errorf("signing key rotation: %w", err))
	}
	if n, err := k.purge(ctx); err != nil {
		errs = append(errs, fmt.Errorf("public key purge: %w", err))
	} else if n > 0 {
		k.log.Info().Int64("purged", n).Msg("expired public keys purged")
	}
	// The logged-out sessions of expired tokens need no remembering: their tokens open
	// nothing anyway.
	if _, err := k.store.PurgeEndedSessions(ctx, k.now()); err != nil {
		errs = append(errs, fmt.Errorf("ended session purge: %w", err))
	}
	return errors.Join(errs...)
}

// start makes the first key (so that a database that refuses it fails start-up), then
// rotates and purges in the background (see internal/background) until stop.
func (k *keyring) start(ctx context.Context) error {
	if _, err := k.signer(ctx); err != nil {
		return err
	}
	return k.loop.Start(ctx)
}

// stop ends the background loop: a round under way is cancelled, and stop waits for it until
// ctx ends, no longer. It may be called more than once.
func (k *keyring) stop(ctx context.Context) error { return k.loop.Stop(ctx) }
