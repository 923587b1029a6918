// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// expiredTokenRetention is how long an issued token is remembered after
	// it expires, so that a client still presenting it is told "Token
	// expired." rather than "Invalid access token." Past it the token is
	// forgotten, which bounds memory in long runs with short lifetimes.
	expiredTokenRetention = time.Hour
	// pruneInterval spaces out the sweeps for forgotten tokens, so issuing
	// stays cheap however many tokens are held.
	pruneInterval = time.Minute
)

var (
	errInvalidToken = errors.New("invalid access token")
	errTokenExpired = errors.New("token expired")
)

// credentials decides which bearer tokens the /api/ paths accept: the static
// ones (personal access tokens, replaceable for rotation tests) and those
// issued by the token endpoints until they expire. Each accepted token maps
// to a label that names its holder without revealing it.
type credentials struct {
	now      func() time.Time
	lifetime time.Duration

	static atomic.Pointer[[]staticToken]

	mu        sync.Mutex
	issued    map[[sha256.Size]byte]issuedToken // by SHA-256 of the token: no secret is kept
	lastPrune time.Time
}

type staticToken struct {
	token []byte
	label string
}

type issuedToken struct {
	label   string
	expires time.Time
}

func newCredentials(now func() time.Time, lifetime time.Duration, static []string) *credentials {
	c := &credentials{now: now, lifetime: lifetime, issued: make(map[[sha256.Size]byte]issuedToken)}
	c.setStatic(static)
	return c
}

// staticLabel names a static token by the first 8 hex digits of its SHA-256:
// enough to tell a handful of tokens apart, useless to an attacker.
func staticLabel(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "static:" + hex.EncodeToString(sum[:4])
}

// setStatic replaces the accepted static tokens.
func (c *credentials) setStatic(tokens []string) {
	static := make([]staticToken, len(tokens))
	for i, token := range tokens {
		static[i] = staticToken{token: []byte(token), label: staticLabel(token)}
	}
	c.static.Store(&static)
}

// issue creates a token for the holder named by label, valid for the
// configured lifetime from now.
func (c *credentials) issue(label string) string {
	token := rand.Text()
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	c.issued[sha256.Sum256([]byte(token))] = issuedToken{label: label, expires: now.Add(c.lifetime)}
	return token
}

// pruneLocked forgets the tokens expired for longer than
// expiredTokenRetention, at most once per pruneInterval.
func (c *credentials) pruneLocked(now time.Time) {
	if now.Sub(c.lastPrune) < pruneInterval {
		return
	}
	c.lastPrune = now
	for key, token := range c.issued {
		if now.Sub(token.expires) > expiredTokenRetention {
			delete(c.issued, key)
		}
	}
}

// authenticate returns the label of token's holder, errTokenExpired for an
// issued token past its expiry, or errInvalidToken.
func (c *credentials) authenticate(token string) (string, error) {
	presented := []byte(token)
	for _, static := range *c.static.Load() {
		if subtle.ConstantTimeCompare(presented, static.token) == 1 {
			return static.label, nil
		}
	}
	key := sha256.Sum256(presented)
	c.mu.Lock()
	issued, ok := c.issued[key]
	c.mu.Unlock()
	switch {
	case !ok:
		return "", errInvalidToken
	case !c.now().Before(issued.expires):
		return "", errTokenExpired
	default:
		return issued.label, nil
	}
}

// issuedCount reports how many issued tokens are remembered; tests use it to
// check pruning.
func (c *credentials) issuedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.issued)
}
