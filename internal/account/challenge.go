package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// Proof of work: the server hands out a signed, expiring challenge; the
// browser finds a nonce such that SHA-256(challenge ":" nonce) starts with
// Difficulty zero bits; the server checks it once. Bots pay in CPU, people
// wait a second. No third-party service is involved.

// ChallengeTTL is how long a challenge can be solved.
const ChallengeTTL = 5 * time.Minute

// Challenge difficulty in leading zero bits: about 2^n hashes to solve.
// 16 bits is ~65k hashes, well under a second in a browser.
const (
	BaseDifficulty = 16
	MaxDifficulty  = 24
)

// Challenges issues and verifies proof-of-work challenges.
type Challenges struct {
	db  *store.DB
	key []byte

	mu       sync.Mutex
	pressure map[string]*ipPressure // escalation per address
}

type ipPressure struct {
	issued  int
	window  time.Time
	suspect time.Time // crawler-like until then
}

// NewChallenges loads (or creates) the signing key shared by every node.
func NewChallenges(ctx context.Context, db *store.DB) (*Challenges, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	_, err := db.ExecContext(ctx, `INSERT INTO platform_credentials (name, secret_hash, created_at) VALUES ('challenge_key', $1, $2)
		ON CONFLICT (name) DO NOTHING`, hex.EncodeToString(b[:]), store.Now())
	if err != nil {
		return nil, fmt.Errorf("store challenge key: %w", err)
	}
	var key string
	if err := db.QueryRowContext(ctx, `SELECT secret_hash FROM platform_credentials WHERE name = 'challenge_key'`).Scan(&key); err != nil {
		return nil, fmt.Errorf("read challenge key: %w", err)
	}
	raw, err := hex.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("challenge key is corrupt: %w", err)
	}
	return &Challenges{db: db, key: raw, pressure: map[string]*ipPressure{}}, nil
}

// IssuedChallenge is what the client receives.
type IssuedChallenge struct {
	Challenge  string    `json:"challenge"`
	Difficulty int       `json:"difficulty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Difficulty is what a client at ip must solve now: it grows with each
// challenge the address asked for in the last hour, and jumps for an
// address that behaves like a crawler.
func (c *Challenges) Difficulty(ip string, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.difficultyLocked(ip, now)
}

func (c *Challenges) difficultyLocked(ip string, now time.Time) int {
	p := c.pressure[ip]
	if p == nil {
		return BaseDifficulty
	}
	d := BaseDifficulty
	if now.Sub(p.window) < time.Hour && p.issued > 3 {
		d += (p.issued - 3) / 2
	}
	if p.suspect.After(now) {
		d += 4
	}
	return min(d, MaxDifficulty)
}

// MarkSuspect raises the bar for ip for the next ten minutes.
func (c *Challenges) MarkSuspect(ip string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.entry(ip, now)
	p.suspect = now.Add(10 * time.Minute)
}

func (c *Challenges) entry(ip string, now time.Time) *ipPressure {
	if len(c.pressure) > 100000 {
		for k, p := range c.pressure {
			if now.Sub(p.window) > time.Hour && p.suspect.Before(now) {
				delete(c.pressure, k)
			}
		}
	}
	p := c.pressure[ip]
	if p == nil || now.Sub(p.window) > time.Hour {
		old := p
		p = &ipPressure{window: now}
		if old != nil {
			p.suspect = old.suspect
		}
		c.pressure[ip] = p
	}
	return p
}

// Issue makes a challenge for purpose, at the difficulty ip has earned.
func (c *Challenges) Issue(purpose, ip string, now time.Time) IssuedChallenge {
	c.mu.Lock()
	diff := c.difficultyLocked(ip, now)
	c.entry(ip, now).issued++
	c.mu.Unlock()

	var id [16]byte
	_, _ = rand.Read(id[:])
	exp := now.Add(ChallengeTTL).Truncate(time.Second)
	payload := fmt.Sprintf("%s.%s.%d.%d", hex.EncodeToString(id[:]), purpose, diff, exp.Unix())
	return IssuedChallenge{Challenge: payload + "." + c.sign(payload), Difficulty: diff, ExpiresAt: exp}
}

func (c *Challenges) sign(payload string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// badChallenge says why a solution was refused (400 bad_request).
func badChallenge(msg string) error { return httpjson.BadRequest("", "%s", msg) }

// Verify checks a solution for purpose and spends it. minDifficulty is what
// the caller demands now (an attacker may not keep an easy old challenge).
func (c *Challenges) Verify(ctx context.Context, purpose, challenge, nonce string, minDifficulty int, now time.Time) error {
	if challenge == "" || nonce == "" {
		return badChallenge("solve the proof-of-work challenge first (GET /api/challenge)")
	}
	if len(challenge) > 256 || len(nonce) > 64 {
		return badChallenge("challenge or nonce is malformed")
	}
	i := strings.LastIndexByte(challenge, '.')
	if i < 0 {
		return badChallenge("challenge is malformed")
	}
	payload, sig := challenge[:i], challenge[i+1:]
	if !hmac.Equal([]byte(sig), []byte(c.sign(payload))) {
		return badChallenge("challenge was not issued by this server")
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 4 {
		return badChallenge("challenge is malformed")
	}
	var diff int
	var exp int64
	if _, err := fmt.Sscanf(parts[2]+" "+parts[3], "%d %d", &diff, &exp); err != nil {
		return badChallenge("challenge is malformed")
	}
	if parts[1] != purpose {
		return badChallenge("challenge was issued for something else")
	}
	if now.Unix() > exp {
		return badChallenge("challenge has expired; ask for a new one")
	}
	if diff < minDifficulty {
		return badChallenge("challenge is too easy now; ask for a new one")
	}
	sum := sha256.Sum256([]byte(challenge + ":" + nonce))
	if leadingZeroBits(sum[:]) < diff {
		return badChallenge("the solution does not solve the challenge")
	}
	// Spend it: the primary key makes a second use fail on every node.
	_, _ = c.db.ExecContext(ctx, `DELETE FROM spent_challenges WHERE expires_at < $1`, now.UnixMilli())
	_, err := c.db.ExecContext(ctx, `INSERT INTO spent_challenges (id, expires_at) VALUES ($1, $2)`, parts[0], exp*1000)
	if store.IsUniqueViolation(err) {
		return badChallenge("this challenge was already used")
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("spend challenge: %w", err)
	}
	return nil
}

func leadingZeroBits(b []byte) int {
	n := 0
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		if v != 0 {
			return n + bits.LeadingZeros64(v)
		}
		n += 64
		b = b[8:]
	}
	return n
}

// Solve finds a nonce for a challenge, as the browser does; the CLI and
// tests use it.
func Solve(challenge string, difficulty int) string {
	for n := uint64(0); ; n++ {
		nonce := fmt.Sprint(n)
		sum := sha256.Sum256([]byte(challenge + ":" + nonce))
		if leadingZeroBits(sum[:]) >= difficulty {
			return nonce
		}
	}
}
