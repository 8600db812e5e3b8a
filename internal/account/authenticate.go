package account

import (
	"context"
	"crypto/hmac"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Authenticate resolves who is calling (admin token, personal token,
// session cookie, or nobody), enforces CSRF for cookie sessions, and
// applies the per-address and per-account write limits. A login resolved
// in the last authCacheTTL is reused without asking the store; an identity
// change (log-out, password, ban, deletion, revoked token, roles) forgets
// it at once on every node (OnEvent).
func (s *Service) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := time.Now()
		var p policy.Principal
		if h := r.Header.Get("Authorization"); h != "" {
			token := BearerToken(r)
			if token == "" {
				httpjson.Error(w, http.StatusUnauthorized, "Authorization must be: Bearer TOKEN")
				return
			}
			var refusal string
			var err error
			if p, refusal, err = s.bearer(ctx, token, now); err != nil {
				httpjson.Fail(w, err)
				return
			} else if refusal != "" {
				httpjson.Error(w, http.StatusUnauthorized, refusal)
				return
			}
		} else if c, err := r.Cookie(SessionCookie); err == nil && !isLoginPath(r.URL.Path) {
			if p, err = s.session(ctx, c.Value, now); err != nil {
				httpjson.Fail(w, err)
				return
			}
			if p.Via == "session" && !isSafe(r.Method) &&
				!hmac.Equal([]byte(r.Header.Get(CSRFHeader)), []byte(p.Session.CSRF)) {
				httpjson.Error(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
				return
			}
		}
		if !isSafe(r.Method) && strings.HasPrefix(r.URL.Path, "/api/") && p.Via != "admin-token" && !hasOwnLimit(r.URL.Path) {
			if !s.allow(w, s.Limits.WritePerIP, "ip:"+ClientIP(r), now) {
				return
			}
			if p.User != nil && !s.allow(w, s.Limits.WritePerAccount, "user:"+strconv.FormatInt(p.User.ID, 10), now) {
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(policy.WithPrincipal(ctx, p)))
	})
}

// bearer resolves an Authorization: Bearer token: the admin token or a
// personal token. refusal explains a token that is not valid.
func (s *Service) bearer(ctx context.Context, token string, now time.Time) (p policy.Principal, refusal string, err error) {
	hash := hashSecret(token)
	if p, ok := s.auth.get("t:"+hash, now); ok {
		return p, "", nil
	}
	if ok, err := s.Admin.Check(ctx, token); err != nil {
		return p, "", err
	} else if ok {
		p = policy.Principal{Via: "admin-token"}
		s.auth.put("t:"+hash, p, now)
		return p, "", nil
	}
	tokenID, uid, scopes, ok, err := s.Tokens.Lookup(ctx, token)
	if err != nil {
		return p, "", err
	}
	if !ok {
		return p, "the bearer token is not valid (revoked, or never issued)", nil
	}
	u, err := s.Users.Get(ctx, uid)
	if err != nil {
		return p, "the token's account no longer exists", nil
	}
	p = policy.Principal{User: &u, Via: "token", Scopes: scopes, TokenID: tokenID}
	if p.PlatformBanned, err = s.platformBanned(ctx, u.ID, now); err != nil {
		return p, "", err
	}
	s.auth.put("t:"+hash, p, now)
	return p, "", nil
}

// session resolves a session cookie; an unknown or expired one is anonymous.
func (s *Service) session(ctx context.Context, cookie string, now time.Time) (policy.Principal, error) {
	key := "s:" + hashSecret(cookie)
	if p, ok := s.auth.get(key, now); ok && now.Before(p.Session.ExpiresAt) {
		return p, nil
	}
	sess, ok, err := s.Sessions.Lookup(ctx, cookie)
	if err != nil || !ok {
		return policy.Principal{}, err
	}
	u, err := s.Users.Get(ctx, sess.UserID)
	if err != nil {
		return policy.Principal{}, nil // the account is gone
	}
	p := policy.Principal{User: &u, Via: "session", Session: &sess}
	if p.PlatformBanned, err = s.platformBanned(ctx, u.ID, now); err != nil {
		return policy.Principal{}, err
	}
	s.auth.put(key, p, now)
	return p, nil
}

func (s *Service) platformBanned(ctx context.Context, userID int64, now time.Time) (bool, error) {
	return s.roles.PlatformBanned(ctx, userID, now)
}

// authCacheTTL is how long a resolved login is reused without the store;
// it bounds how stale one can get if an identity event is lost (a timed
// platform ban running out is noticed within it too).
const authCacheTTL = 10 * time.Second

// authCacheMax bounds the memory of the cache: past it, it starts afresh.
const authCacheMax = 100_000

// authCache holds resolved logins by the hash of their secret ("s:" for
// sessions, "t:" for bearer tokens).
type authCache struct {
	mu     sync.Mutex
	logins map[string]cachedLogin
}

type cachedLogin struct {
	p  policy.Principal
	at time.Time
}

func (c *authCache) get(key string, now time.Time) (policy.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.logins[key]
	if !ok || now.Sub(l.at) > authCacheTTL {
		return policy.Principal{}, false
	}
	p := l.p
	if p.User != nil { // callers may change their copy
		u := *p.User
		p.User = &u
	}
	return p, true
}

func (c *authCache) put(key string, p policy.Principal, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logins == nil || len(c.logins) >= authCacheMax {
		c.logins = map[string]cachedLogin{}
	}
	c.logins[key] = cachedLogin{p: p, at: now}
}

// forget drops every cached login of an account.
func (c *authCache) forget(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, l := range c.logins {
		if l.p.User != nil && l.p.User.ID == userID {
			delete(c.logins, k)
		}
	}
}

// Cookie names.
const (
	SessionCookie = "lh_session"
	CSRFCookie    = "lh_csrf"
	PassCookie    = "lh_pass"
	CSRFHeader    = "X-CSRF-Token"
)

func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// hasOwnLimit: these writes have a dedicated limit (sign-up, log-in) or
// are paid for with proof of work (the crawler pass), so a client that hit
// the general write limit can still prove itself.
func hasOwnLimit(path string) bool {
	return isLoginPath(path) || path == "/api/challenge/pass" || path == "/api/payments/webhook"
}

func isLoginPath(path string) bool {
	return path == "/api/auth/login" || path == "/api/auth/signup"
}
