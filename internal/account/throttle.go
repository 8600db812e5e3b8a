package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/ratelimit"
)

// Abuse defences: the general write limits (applied by Authenticate),
// browsing limits for anonymous clients with a proof-of-work way out, and
// the crawler guard on channel reads.

// ClientIP is the address limits apply to: the request's peer, which the
// trusted-proxy middleware (clientaddr) has already set to the real client.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allow takes a token from l for key, or answers 429 with Retry-After.
func (s *Service) allow(w http.ResponseWriter, l *ratelimit.Limiter, key string, now time.Time) bool {
	ok, wait := l.Allow(key, now)
	if !ok {
		tooMany(w, wait, "too many requests; slow down")
	}
	return ok
}

func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	httpjson.Fail(w, &httpjson.Problem{Status: http.StatusTooManyRequests, Message: fmt.Sprintf("%s (retry in %ds)", msg, httpjson.RetryAfterSeconds(wait)),
		Retry: wait})
}

// ThrottleBrowsing slows anonymous listing of channels and history: past
// the per-address limit the address is treated as a crawler (higher
// challenge difficulty) until it proves work with a pass cookie.
func (s *Service) ThrottleBrowsing(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := policy.PrincipalFrom(r.Context())
		if p.Via != "" || s.validPass(r) {
			next(w, r)
			return
		}
		now := time.Now()
		ip := ClientIP(r)
		if ok, wait := s.Limits.BrowsePerIP.Allow("browse:"+ip, now); !ok {
			s.refuseCrawler(w, ip, wait, now)
			return
		}
		next(w, r)
	}
}

// GuardChannelReads lets a person watch a few channels at once but treats
// an anonymous address that reads many different channels in a minute as
// a crawler: it gets the browse challenge until it proves work.
func (s *Service) GuardChannelReads(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := policy.PrincipalFrom(r.Context())
		if p.Via != "" || s.validPass(r) {
			next(w, r)
			return
		}
		now := time.Now()
		ip := ClientIP(r)
		if s.crawl.tooMany(ip, r.PathValue("slug"), now) {
			s.refuseCrawler(w, ip, time.Minute, now)
			return
		}
		next(w, r)
	}
}

func (s *Service) refuseCrawler(w http.ResponseWriter, ip string, wait time.Duration, now time.Time) {
	s.Challenges.MarkSuspect(ip, now)
	// A puzzle to solve rather than an error: its answer has no code.
	w.Header().Set("Retry-After", strconv.Itoa(httpjson.RetryAfterSeconds(wait)))
	httpjson.Write(w, http.StatusTooManyRequests, map[string]any{
		"error":     "too many anonymous requests; log in, or solve the challenge and POST it to /api/challenge/pass",
		"challenge": s.Challenges.Issue("browse", ip, now),
	})
}

// MaxChannelsPerMinute is how many different channels one anonymous address
// may read in a minute; a household watching a handful never comes close.
const MaxChannelsPerMinute = 30

// crawlTracker counts the distinct channels each anonymous address read in
// the current minute.
type crawlTracker struct {
	mu    sync.Mutex
	addrs map[string]*crawlWindow
}

type crawlWindow struct {
	start time.Time
	slugs map[string]struct{}
}

func (c *crawlTracker) tooMany(ip, slug string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addrs == nil || len(c.addrs) > 100000 {
		c.addrs = map[string]*crawlWindow{} // a flood of addresses resets the memory, not the server
	}
	w := c.addrs[ip]
	if w == nil || now.Sub(w.start) > time.Minute {
		w = &crawlWindow{start: now, slugs: map[string]struct{}{}}
		c.addrs[ip] = w
	}
	if _, seen := w.slugs[slug]; !seen && len(w.slugs) <= MaxChannelsPerMinute {
		w.slugs[slug] = struct{}{}
	}
	return len(w.slugs) > MaxChannelsPerMinute
}

// passTTL is how long a solved browse challenge lifts the throttle.
const passTTL = 10 * time.Minute

func (s *Service) passValue(ip string, exp int64) string {
	m := hmac.New(sha256.New, s.Challenges.key)
	fmt.Fprintf(m, "pass|%s|%d", ip, exp)
	return strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Service) validPass(r *http.Request) bool {
	c, err := r.Cookie(PassCookie)
	if err != nil {
		return false
	}
	expStr, _, ok := strings.Cut(c.Value, ".")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || time.Now().Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(s.passValue(ClientIP(r), exp)))
}
