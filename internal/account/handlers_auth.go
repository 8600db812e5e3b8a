package account

import (
	"errors"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/clientaddr"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// --- challenge ---

func (s *Service) issueChallenge(w http.ResponseWriter, r *http.Request) {
	purpose := r.URL.Query().Get("purpose")
	if purpose != "signup" && purpose != "browse" {
		httpjson.Error(w, http.StatusBadRequest, "purpose must be signup or browse")
		return
	}
	httpjson.Write(w, http.StatusOK, s.Challenges.Issue(purpose, ClientIP(r), time.Now()))
}

type solution struct {
	Challenge string `json:"challenge"`
	Nonce     string `json:"nonce"`
}

func (s *Service) solvePass(w http.ResponseWriter, r *http.Request) {
	var in solution
	if !httpjson.Read(w, r, &in) {
		return
	}
	now := time.Now()
	ip := ClientIP(r)
	if err := s.Challenges.Verify(r.Context(), "browse", in.Challenge, in.Nonce, s.Challenges.Difficulty(ip, now)-2, now); err != nil {
		httpjson.Fail(w, err)
		return
	}
	exp := now.Add(passTTL).Unix()
	http.SetCookie(w, &http.Cookie{Name: PassCookie, Value: s.passValue(ip, exp), Path: "/", MaxAge: int(passTTL.Seconds()),
		HttpOnly: true, Secure: clientaddr.Secure(r), SameSite: http.SameSiteLaxMode})
	httpjson.Write(w, http.StatusOK, map[string]any{"pass_expires_at": time.Unix(exp, 0)})
}

// --- accounts ---

type meJSON struct {
	ID             int64     `json:"id,omitempty"`
	Username       string    `json:"username"`
	Level          int       `json:"level"`
	XP             int64     `json:"xp"`
	Roles          []string  `json:"roles"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	AccountAgeDays int       `json:"account_age_days"`
	Via            string    `json:"via"`
	Scopes         []string  `json:"scopes,omitempty"`
	CSRFToken      string    `json:"csrf_token,omitempty"`
	PlatformBanned bool      `json:"platform_banned,omitempty"`
}

func meOf(p policy.Principal) meJSON {
	if p.User == nil {
		return meJSON{Username: "admin token", Roles: []string{"admin"}, Via: p.Via}
	}
	out := meJSON{ID: p.User.ID, Username: p.User.Username, Level: p.User.Level(), XP: p.User.XP, Roles: p.User.Roles(),
		CreatedAt: p.User.CreatedAt, AccountAgeDays: int(p.User.AccountAge(time.Now()).Hours() / 24), Via: p.Via, Scopes: p.Scopes,
		PlatformBanned: p.PlatformBanned}
	if p.Session != nil {
		out.CSRFToken = p.Session.CSRF
	}
	return out
}

type credentials struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	Email     string `json:"email"`
	Challenge string `json:"challenge"`
	Nonce     string `json:"nonce"`
}

func (s *Service) signup(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ip := ClientIP(r)
	if !s.allow(w, s.Limits.SignupPerIP, "signup:"+ip, now) {
		return
	}
	var in credentials
	if !httpjson.Read(w, r, &in) {
		return
	}
	// Validate before spending the challenge, so a typo costs no new puzzle.
	display, _, err := NormalizeUsername(in.Username)
	if err == nil && s.screenName != nil {
		err = s.screenName(r.Context(), display)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := checkPassword(in.Password, display); err != nil {
		httpjson.Fail(w, err)
		return
	}
	minDiff := BaseDifficulty
	if d := s.Challenges.Difficulty(ip, now); d > BaseDifficulty+2 {
		minDiff = d - 2 // crawler-like addresses may not keep using easy puzzles
	}
	if err := s.Challenges.Verify(r.Context(), "signup", in.Challenge, in.Nonce, minDiff, now); err != nil {
		httpjson.Fail(w, err)
		return
	}
	u, err := s.Users.Create(r.Context(), NewUser{Username: in.Username, Password: in.Password, Email: in.Email})
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.Log.Info("account created", "user", u.Username, "id", u.ID)
	// The first account ever made on an install runs it, so a newcomer can
	// set the platform up from the pages alone.
	if first, err := s.Users.MakeFirstAccountAdmin(r.Context(), u.ID); err != nil {
		httpjson.Fail(w, err)
		return
	} else if first {
		s.Log.Warn("the first account on this install is now the platform admin", "user", u.Username)
		u.IsAdmin, u.CanStream = true, true
	}
	s.startSession(w, r, u, http.StatusCreated)
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ip := ClientIP(r)
	if !s.allow(w, s.Limits.LoginPerIP, "login:"+ip, now) {
		return
	}
	var in credentials
	if !httpjson.Read(w, r, &in) {
		return
	}
	_, key, _ := NormalizeUsername(in.Username)
	nameKey, ipKey := "name:"+key, "ip:"+ip
	if wait := s.Throttle.Wait(now, nameKey, ipKey); wait > 0 {
		tooMany(w, wait, "too many failed log-ins")
		return
	}
	u, err := s.Users.Authenticate(r.Context(), in.Username, in.Password)
	if errors.Is(err, ErrBadLogin) {
		// The wait runs from the answer, not the request: a slow password
		// hash on a busy node would otherwise use the first wait up.
		s.Throttle.Fail(time.Now(), nameKey, ipKey)
		s.Log.Warn("failed log-in", "ip", ip)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.Throttle.Succeed(nameKey)
	s.startSession(w, r, u, http.StatusOK)
}

// startSession logs u in with a brand-new session; any session cookie the
// browser brought is replaced, never adopted.
func (s *Service) startSession(w http.ResponseWriter, r *http.Request, u policy.User, code int) {
	token, sess, err := s.Sessions.NewSession(r.Context(), u.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	setSessionCookies(w, r, token, sess.CSRF, int(SessionTTL.Seconds()))
	httpjson.Write(w, code, meOf(policy.Principal{User: &u, Via: "session", Session: &sess}))
}

// setSessionCookies sets (or, with maxAge -1, clears) the login cookies.
// They are Secure when the request came over TLS (directly or through a
// trusted proxy): a browser drops Secure cookies set over plain HTTP at any
// name but localhost, which would make log-in silently fail on a LAN.
func setSessionCookies(w http.ResponseWriter, r *http.Request, token, csrf string, maxAge int) {
	secure := clientaddr.Secure(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	// Readable by our pages' scripts, which echo it in X-CSRF-Token.
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", MaxAge: maxAge,
		Secure: secure, SameSite: http.SameSiteStrictMode})
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	p := policy.PrincipalFrom(r.Context())
	if p.Session == nil {
		httpjson.Error(w, http.StatusUnauthorized, "not logged in with a session")
		return
	}
	if err := s.Sessions.End(r.Context(), p.Session.TokenHash); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.IdentityChanged(p.User.ID, IdentityLogout)
	setSessionCookies(w, r, "", "", -1)
	httpjson.Write(w, http.StatusOK, map[string]bool{"logged_out": true})
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountRead, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if p.User != nil { // experience grows by the minute; logins are cached for seconds
		u, err := s.Users.Get(r.Context(), p.User.ID)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		p.User = &u
	}
	httpjson.Write(w, http.StatusOK, meOf(p))
}

func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountManage, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if !s.confirmPassword(w, r, p, in.Current) {
		return
	}
	if err := s.Users.SetPassword(r.Context(), p.User.ID, in.New, p.Session.TokenHash); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.IdentityChanged(p.User.ID, IdentityPassword)
	httpjson.Write(w, http.StatusOK, map[string]bool{"changed": true})
}

func (s *Service) deleteAccount(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountManage, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Password string `json:"password"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if !s.confirmPassword(w, r, p, in.Password) {
		return
	}
	if err := s.Users.Delete(r.Context(), p.User.ID); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.IdentityChanged(p.User.ID, IdentityDeleted)
	setSessionCookies(w, r, "", "", -1)
	httpjson.Write(w, http.StatusOK, map[string]bool{"deleted": true})
}

// confirmPassword asks for the current password again before an account
// change a stolen session alone must not make.
func (s *Service) confirmPassword(w http.ResponseWriter, r *http.Request, p policy.Principal, password string) bool {
	if _, err := s.Users.Authenticate(r.Context(), p.User.Username, password); err != nil {
		httpjson.Fail(w, err)
		return false
	}
	return true
}
