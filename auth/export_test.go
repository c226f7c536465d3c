package auth

import "time"

// SetJWKSCooldown sets how often an unknown kid may refetch an issuer's JWKS (30s unless
// set), for tests that wait for the cooldown to end.
func SetJWKSCooldown(o *Options, d time.Duration) { o.jwksCooldown = d }
