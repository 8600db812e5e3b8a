// Package ratelimit holds the in-memory allowances abuse defences use: token
// buckets keyed by address or account (Limiter) and the growing delay after
// failed log-ins (LoginThrottle).
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets keyed by IP or account. Idle buckets
// are dropped, so memory follows the number of recent clients.
//
// It lives in one node's memory: with several nodes each enforces its own
// share. That is the usual trade (Twitch-style limits are per edge too) and
// keeps every request off the database.
type Limiter struct {
	limit rate.Limit
	burst int
	per   time.Duration // burst events per per: the configured rate
	base  int           // the burst it was made with (the default)

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows n events per period with bursts of n.
func NewLimiter(n int, per time.Duration) *Limiter {
	return &Limiter{limit: rate.Limit(float64(n) / per.Seconds()), burst: n, per: per, base: n, buckets: map[string]*bucket{}}
}

// SetRate changes the allowance to n events per the limiter's period (0:
// back to the one it was made with), for existing buckets too.
func (l *Limiter) SetRate(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 {
		n = l.base
	}
	if n == l.burst {
		return
	}
	l.burst, l.limit = n, rate.Limit(float64(n)/l.per.Seconds())
	for _, b := range l.buckets {
		b.lim.SetLimit(l.limit)
		b.lim.SetBurst(n)
	}
}

// Rate reports the allowance: n events per period.
func (l *Limiter) Rate() (n int, per time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.burst, l.per
}

// Allow takes one token for key; when none is left it says how long to wait.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle long enough to have refilled.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Minute
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	l.swept = now
}

// LoginThrottle makes each failed log-in for a name (or from an address)
// cost more waiting: after 3 failures, 1 s, then 2, 4, … up to 15 minutes.
// A success clears the name's record.
type LoginThrottle struct {
	mu    sync.Mutex
	state map[string]*failures
	swept time.Time
}

type failures struct {
	count int
	until time.Time
	last  time.Time
}

const (
	freeFailures  = 3
	maxLoginDelay = 15 * time.Minute
)

// NewLoginThrottle returns an empty throttle.
func NewLoginThrottle() *LoginThrottle { return &LoginThrottle{state: map[string]*failures{}} }

// Wait reports how long keys must still wait before another try.
func (t *LoginThrottle) Wait(now time.Time, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if f := t.state[k]; f != nil && f.until.After(now) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

// Fail records a failed try for each key.
func (t *LoginThrottle) Fail(now time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.swept) > time.Minute {
		for k, f := range t.state {
			if now.Sub(f.last) > 24*time.Hour {
				delete(t.state, k)
			}
		}
		t.swept = now
	}
	for _, k := range keys {
		f := t.state[k]
		if f == nil {
			f = &failures{}
			t.state[k] = f
		}
		f.count++
		f.last = now
		if f.count > freeFailures {
			delay := time.Second << min(f.count-freeFailures-1, 20)
			f.until = now.Add(min(delay, maxLoginDelay))
		}
	}
}

// Succeed clears a key's failures.
func (t *LoginThrottle) Succeed(key string) {
	t.mu.Lock()
	delete(t.state, key)
	t.mu.Unlock()
}
