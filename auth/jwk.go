package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key (RFC 7517) of a Stagebus signing key, as stored and served at
// /api/auth/.well-known/jwks.json. Private members are never part of it. (External issuers'
// keys are read by jwkset.)
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// ecCurves maps JWK curve names to curves, their coordinate size and their ES algorithm.
var ecCurves = map[string]struct {
	curve elliptic.Curve
	size  int
	alg   string
}{
	"P-256": {elliptic.P256(), 32, "ES256"},
	"P-384": {elliptic.P384(), 48, "ES384"},
	"P-521": {elliptic.P521(), 66, "ES512"},
}

// ecJWK returns the JWK of an ES256 signing key.
func ecJWK(kid string, pub *ecdsa.PublicKey) (JWK, error) {
	b, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return JWK{}, fmt.Errorf("encode public key: %w", err)
	}
	size := (len(b) - 1) / 2
	enc := base64.RawURLEncoding.EncodeToString
	return JWK{Kty: "EC", Kid: kid, Alg: "ES256", Use: "sig", Crv: "P-256", X: enc(b[1 : 1+size]), Y: enc(b[1+size:])}, nil
}

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// PublicKey decodes the key. It checks that EC points lie on their curve and that RSA
// moduli have at least 2048 bits.
func (j JWK) PublicKey() (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch j.Kty {
	case "EC":
		c, ok := ecCurves[j.Crv]
		if !ok {
			return nil, fmt.Errorf("jwk %q: unsupported curve %q", j.Kid, j.Crv)
		}
		x, errX := dec(j.X)
		y, errY := dec(j.Y)
		if errX != nil || errY != nil || len(x) != c.size || len(y) != c.size {
			return nil, fmt.Errorf("jwk %q: malformed EC coordinates", j.Kid)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, point)
		if err != nil {
			return nil, fmt.Errorf("jwk %q: %w", j.Kid, err)
		}
		return pub, nil
	case "RSA":
		n, errN := dec(j.N)
		e, errE := dec(j.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("jwk %q: malformed RSA key", j.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			return nil, fmt.Errorf("jwk %q: RSA key too weak or malformed", j.Kid)
		}
		return pub, nil
	case "OKP":
		x, err := dec(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwk %q: unsupported or malformed OKP key", j.Kid)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("jwk %q: unsupported key type %q", j.Kid, j.Kty)
}

// errAlgorithmMismatch means a key cannot verify the token's algorithm.
var errAlgorithmMismatch = errors.New("the key is not for this algorithm")

// keyFitsAlgorithm reports whether key can verify tokens signed with alg.
func keyFitsAlgorithm(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		for _, c := range ecCurves {
			if c.curve == k.Curve {
				return c.alg == alg
			}
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
