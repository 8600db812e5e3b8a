package trust

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/clientaddr"
	"github.com/livehouse/livehouse/internal/httpjson"
)

// Register adds the trust domain's routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/challenge", s.issueChallenge)
	mux.HandleFunc("POST /api/challenge/pass", s.solvePass)
	mux.HandleFunc("POST /api/auth/signup", s.signup)
	mux.HandleFunc("POST /api/auth/login", s.login)
	mux.HandleFunc("POST /api/auth/logout", s.logout)
	mux.HandleFunc("GET /api/me", s.me)
	mux.HandleFunc("POST /api/me/password", s.changePassword)
	mux.HandleFunc("DELETE /api/me", s.deleteAccount)
	mux.HandleFunc("GET /api/tokens", s.listTokens)
	mux.HandleFunc("POST /api/tokens", s.createToken)
	mux.HandleFunc("DELETE /api/tokens/{id}", s.revokeToken)

	mux.HandleFunc("GET /api/channels/{slug}/rules", s.getRules)
	mux.HandleFunc("PUT /api/channels/{slug}/rules", s.putRules)
	mux.HandleFunc("POST /api/channels/{slug}/check-message", s.checkMessage)
	mux.HandleFunc("GET /api/channels/{slug}/moderators", s.listModerators)
	mux.HandleFunc("POST /api/channels/{slug}/moderators", s.appointModerator)
	mux.HandleFunc("DELETE /api/channels/{slug}/moderators/{username}", s.dismissModerator)
	mux.HandleFunc("POST /api/channels/{slug}/mutes", s.sanction("mute"))
	mux.HandleFunc("DELETE /api/channels/{slug}/mutes/{username}", s.lift("mute"))
	mux.HandleFunc("POST /api/channels/{slug}/bans", s.sanction("ban"))
	mux.HandleFunc("DELETE /api/channels/{slug}/bans/{username}", s.lift("ban"))
	mux.HandleFunc("GET /api/channels/{slug}/sanctions", s.listSanctions)
	mux.HandleFunc("GET /api/channels/{slug}/modlog", s.modLog)
	mux.HandleFunc("GET /api/channels/{slug}/reports", s.channelReports)
	mux.HandleFunc("GET /api/channels/{slug}/follow", s.followState)
	mux.HandleFunc("POST /api/channels/{slug}/follow", s.follow)
	mux.HandleFunc("DELETE /api/channels/{slug}/follow", s.unfollow)
	mux.HandleFunc("POST /api/reports", s.fileReport)
	mux.HandleFunc("POST /api/reports/{id}", s.resolveReport)

	mux.HandleFunc("GET /api/admin/users", s.adminUsers)
	mux.HandleFunc("POST /api/admin/users/{id}/roles", s.adminRoles)
	mux.HandleFunc("POST /api/admin/users/{id}/ban", s.adminBan)
	mux.HandleFunc("DELETE /api/admin/users/{id}/ban", s.adminUnban)
	mux.HandleFunc("GET /api/admin/reports", s.platformReports)
	mux.HandleFunc("GET /api/admin/settings", s.getSettings)
	mux.HandleFunc("PUT /api/admin/settings", s.putSettings)
}

func (s *Service) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := httpjson.Decode(w, r, v); err != nil {
		httpjson.BadBody(w, err)
		return false
	}
	return true
}

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
	if !s.decode(w, r, &in) {
		return
	}
	now := time.Now()
	ip := ClientIP(r)
	if err := s.Challenges.Verify(r.Context(), "browse", in.Challenge, in.Nonce, s.Challenges.Difficulty(ip, now)-2, now); err != nil {
		s.WriteError(w, err)
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

func meOf(p Principal) meJSON {
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
	if !s.decode(w, r, &in) {
		return
	}
	// Validate before spending the challenge, so a typo costs no new puzzle.
	display, _, err := NormalizeUsername(in.Username)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	if err := checkPassword(in.Password, display); err != nil {
		s.WriteError(w, err)
		return
	}
	minDiff := BaseDifficulty
	if d := s.Challenges.Difficulty(ip, now); d > BaseDifficulty+2 {
		minDiff = d - 2 // crawler-like addresses may not keep using easy puzzles
	}
	if err := s.Challenges.Verify(r.Context(), "signup", in.Challenge, in.Nonce, minDiff, now); err != nil {
		s.WriteError(w, err)
		return
	}
	u, err := s.Users.Create(r.Context(), NewUser{Username: in.Username, Password: in.Password, Email: in.Email})
	if err != nil {
		s.WriteError(w, err)
		return
	}
	s.Log.Info("account created", "user", u.Username, "id", u.ID)
	// The first account ever made on an install runs it, so a newcomer can
	// set the platform up from the pages alone.
	if first, err := s.Users.MakeFirstAccountAdmin(r.Context(), u.ID); err != nil {
		s.internal(w, err)
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
	if !s.decode(w, r, &in) {
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
		s.Throttle.Fail(now, nameKey, ipKey)
		s.Log.Warn("failed log-in", "ip", ip)
	}
	if err != nil {
		s.WriteError(w, err)
		return
	}
	s.Throttle.Succeed(nameKey)
	s.startSession(w, r, u, http.StatusOK)
}

// startSession logs u in with a brand-new session; any session cookie the
// browser brought is replaced, never adopted.
func (s *Service) startSession(w http.ResponseWriter, r *http.Request, u User, code int) {
	token, sess, err := s.Sessions.NewSession(r.Context(), u.ID)
	if err != nil {
		s.internal(w, err)
		return
	}
	setSessionCookies(w, r, token, sess.CSRF, int(SessionTTL.Seconds()))
	httpjson.Write(w, code, meOf(Principal{User: &u, Via: "session", Session: &sess}))
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
	p := PrincipalFrom(r.Context())
	if p.Session == nil {
		httpjson.Error(w, http.StatusUnauthorized, "not logged in with a session")
		return
	}
	if err := s.Sessions.End(r.Context(), p.Session.TokenHash); err != nil {
		s.internal(w, err)
		return
	}
	s.identityChanged(p.User.ID, IdentityLogout)
	setSessionCookies(w, r, "", "", -1)
	httpjson.Write(w, http.StatusOK, map[string]bool{"logged_out": true})
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountRead, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	if p.User != nil { // experience grows by the minute; logins are cached for seconds
		u, err := s.Users.Get(r.Context(), p.User.ID)
		if err != nil {
			s.WriteError(w, err)
			return
		}
		p.User = &u
	}
	httpjson.Write(w, http.StatusOK, meOf(p))
}

func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountManage, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if !s.confirmPassword(w, r, p, in.Current) {
		return
	}
	if err := s.Users.SetPassword(r.Context(), p.User.ID, in.New, p.Session.TokenHash); err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(p.User.ID, IdentityPassword)
	httpjson.Write(w, http.StatusOK, map[string]bool{"changed": true})
}

func (s *Service) deleteAccount(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountManage, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	var in struct {
		Password string `json:"password"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if !s.confirmPassword(w, r, p, in.Password) {
		return
	}
	if err := s.Users.Delete(r.Context(), p.User.ID); err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(p.User.ID, IdentityDeleted)
	setSessionCookies(w, r, "", "", -1)
	httpjson.Write(w, http.StatusOK, map[string]bool{"deleted": true})
}

// confirmPassword asks for the current password again before an account
// change a stolen session alone must not make.
func (s *Service) confirmPassword(w http.ResponseWriter, r *http.Request, p Principal, password string) bool {
	if _, err := s.Users.Authenticate(r.Context(), p.User.Username, password); err != nil {
		s.WriteError(w, err)
		return false
	}
	return true
}

func (s *Service) listTokens(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountRead, 0, 0)
	if err == nil && p.User == nil {
		err = deny("the admin token has no personal tokens")
	}
	if err != nil {
		s.WriteError(w, err)
		return
	}
	toks, err := s.Tokens.List(r.Context(), p.User.ID)
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tokens": toks, "scopes": AllScopes()})
}

func (s *Service) createToken(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountManage, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	var in struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	tok, secret, err := s.Tokens.Create(r.Context(), p.User.ID, in.Name, in.Scopes)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"token": secret, "id": tok.ID, "name": tok.Name, "scopes": tok.Scopes})
}

func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, ActAccountManage, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "token id must be a number")
		return
	}
	if err := s.Tokens.Revoke(r.Context(), p.User.ID, id); err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(p.User.ID, IdentityTokenRevoked)
	httpjson.Write(w, http.StatusOK, map[string]bool{"revoked": true})
}

// --- channel rules and moderation ---

// inChannel resolves the {slug} of the request and authorizes a there.
func (s *Service) inChannel(w http.ResponseWriter, r *http.Request, a Action) (Principal, int64, int64, bool) {
	chID, owner, err := s.Channels.ChannelOwner(r.Context(), r.PathValue("slug"))
	if err != nil {
		s.WriteError(w, err)
		return Principal{}, 0, 0, false
	}
	p, err := s.Authorize(r, a, chID, owner)
	if err != nil {
		s.WriteError(w, err)
		return p, 0, 0, false
	}
	return p, chID, owner, true
}

func (s *Service) getRules(w http.ResponseWriter, r *http.Request) {
	_, chID, _, ok := s.inChannel(w, r, ActWatch)
	if !ok {
		return
	}
	rules, err := s.Mod.Rules(r.Context(), chID)
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, rules)
}

func (s *Service) putRules(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActChannelModerate)
	if !ok {
		return
	}
	rules := DefaultRules()
	if !s.decode(w, r, &rules) {
		return
	}
	if err := s.Mod.SetRules(r.Context(), chID, p.UserID(), rules); err != nil {
		s.WriteError(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.RulesChanged, ChannelID: chID, ActorID: p.UserID()})
	httpjson.Write(w, http.StatusOK, rules)
}

// CheckSpeaker runs every check a chat message goes through in a channel:
// the policy (login, bans, mutes) and the channel's rules. It returns the
// channel and the sender's fan badge there (shown with the message).
func (s *Service) CheckSpeaker(ctx context.Context, slug, text string, lastSent time.Time) (int64, FanBadge, error) {
	chID, owner, err := s.Channels.OpenChannel(ctx, slug)
	if err != nil {
		return 0, FanBadge{}, err
	}
	p, err := s.AuthorizeContext(ctx, ActChatSend, chID, owner)
	if err != nil {
		return chID, FanBadge{}, err
	}
	rules, err := s.Mod.Rules(ctx, chID)
	if err != nil {
		return chID, FanBadge{}, err
	}
	sp := Speaker{LastSent: lastSent}
	if p.User != nil {
		sp.Level = p.User.Level()
		sp.AccountAge = p.User.AccountAge(time.Now())
		mod, err := s.Mod.IsModerator(ctx, chID, p.User.ID)
		if err != nil {
			return chID, FanBadge{}, err
		}
		sp.Privileged = p.User.IsAdmin || p.User.ID == owner || mod
		if sp.Follows, err = s.Mod.Follows(ctx, p.User.ID, chID); err != nil {
			return chID, FanBadge{}, err
		}
		if s.Fans != nil {
			if sp.Fan, err = s.Fans.Standing(ctx, p.User.ID, chID, slug); err != nil {
				return chID, FanBadge{}, err
			}
		}
	}
	return chID, sp.Fan, CheckMessage(rules, sp, text, time.Now())
}

func (s *Service) checkMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Text string `json:"text"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	if _, _, err := s.CheckSpeaker(r.Context(), r.PathValue("slug"), in.Text, time.Time{}); err != nil {
		s.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"allowed": true})
}

func (s *Service) listModerators(w http.ResponseWriter, r *http.Request) {
	_, chID, _, ok := s.inChannel(w, r, ActWatch)
	if !ok {
		return
	}
	mods, err := s.Mod.Moderators(r.Context(), chID)
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"moderators": mods})
}

type targetJSON struct {
	Username string `json:"username"`
	Reason   string `json:"reason"`
	Minutes  int    `json:"minutes"`
}

func (s *Service) appointModerator(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActAppointModerator)
	if !ok {
		return
	}
	var in targetJSON
	if !s.decode(w, r, &in) {
		return
	}
	u, err := s.Users.ByName(r.Context(), in.Username)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	if err := s.Mod.Appoint(r.Context(), chID, u.ID, p.UserID()); err != nil {
		s.internal(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.ModeratorsChanged, ChannelID: chID, ActorID: p.UserID(), UserID: u.ID})
	httpjson.Write(w, http.StatusCreated, map[string]string{"moderator": u.Username})
}

func (s *Service) dismissModerator(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActAppointModerator)
	if !ok {
		return
	}
	u, err := s.Users.ByName(r.Context(), r.PathValue("username"))
	if err != nil {
		s.WriteError(w, err)
		return
	}
	if err := s.Mod.Dismiss(r.Context(), chID, u.ID, p.UserID()); err != nil {
		s.internal(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.ModeratorsChanged, ChannelID: chID, ActorID: p.UserID(), UserID: u.ID})
	httpjson.Write(w, http.StatusOK, map[string]string{"dismissed": u.Username})
}

// mayTarget keeps moderators from sanctioning the owner or each other;
// the owner and admins may sanction moderators.
func (s *Service) mayTarget(r *http.Request, p Principal, chID, owner int64, target User) error {
	if target.ID == owner {
		return deny("the channel owner cannot be muted or banned in their channel")
	}
	if target.IsAdmin && !p.IsAdmin() {
		return deny("platform admins cannot be sanctioned by channel moderators")
	}
	if p.IsAdmin() || p.UserID() == owner {
		return nil
	}
	isMod, err := s.Mod.IsModerator(r.Context(), chID, target.ID)
	if err != nil {
		return err
	}
	if isMod {
		return deny("moderators cannot sanction other moderators; ask the owner")
	}
	return nil
}

func (s *Service) sanction(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, chID, owner, ok := s.inChannel(w, r, ActChannelModerate)
		if !ok {
			return
		}
		var in targetJSON
		if !s.decode(w, r, &in) {
			return
		}
		u, err := s.Users.ByName(r.Context(), in.Username)
		if err != nil {
			s.WriteError(w, err)
			return
		}
		if err := s.mayTarget(r, p, chID, owner, u); err != nil {
			s.WriteError(w, err)
			return
		}
		if in.Minutes < 0 {
			httpjson.Error(w, http.StatusBadRequest, "minutes must not be negative")
			return
		}
		sn, err := s.Mod.Sanction(r.Context(), kind, chID, u.ID, p.UserID(), in.Reason, time.Duration(in.Minutes)*time.Minute)
		if err != nil {
			s.WriteError(w, err)
			return
		}
		s.announce(bus.Event{Type: bus.SanctionsChanged, ChannelID: chID, ActorID: p.UserID(), UserID: u.ID})
		sn.Username = u.Username
		httpjson.Write(w, http.StatusCreated, sn)
	}
}

func (s *Service) lift(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, chID, _, ok := s.inChannel(w, r, ActChannelModerate)
		if !ok {
			return
		}
		u, err := s.Users.ByName(r.Context(), r.PathValue("username"))
		if err != nil {
			s.WriteError(w, err)
			return
		}
		if err := s.Mod.Lift(r.Context(), kind, chID, u.ID, p.UserID()); err != nil {
			s.WriteError(w, err)
			return
		}
		s.announce(bus.Event{Type: bus.SanctionsChanged, ChannelID: chID, ActorID: p.UserID(), UserID: u.ID})
		httpjson.Write(w, http.StatusOK, map[string]string{"lifted": kind, "username": u.Username})
	}
}

func (s *Service) listSanctions(w http.ResponseWriter, r *http.Request) {
	_, chID, _, ok := s.inChannel(w, r, ActChannelModerate)
	if !ok {
		return
	}
	list, err := s.Mod.ListSanctions(r.Context(), chID, time.Now())
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"sanctions": list})
}

func (s *Service) modLog(w http.ResponseWriter, r *http.Request) {
	_, chID, _, ok := s.inChannel(w, r, ActChannelModerate)
	if !ok {
		return
	}
	entries, err := s.Mod.Log(r.Context(), chID, 200)
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"log": entries})
}

func (s *Service) channelReports(w http.ResponseWriter, r *http.Request) {
	_, chID, _, ok := s.inChannel(w, r, ActChannelModerate)
	if !ok {
		return
	}
	s.writeReports(w, r, chID)
}

func (s *Service) platformReports(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, ActPlatformAdmin, 0, 0); err != nil {
		s.WriteError(w, err)
		return
	}
	s.writeReports(w, r, PlatformScope)
}

func (s *Service) writeReports(w http.ResponseWriter, r *http.Request, chID int64) {
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && status != "actioned" && status != "dismissed" {
		httpjson.Error(w, http.StatusBadRequest, "status must be open, actioned or dismissed")
		return
	}
	list, err := s.Mod.Reports(r.Context(), chID, status, 200)
	if err != nil {
		s.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"reports": list})
}

func (s *Service) fileReport(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username  string `json:"username"`
		Channel   string `json:"channel"`
		MessageID string `json:"message_id"`
		Reason    string `json:"reason"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	chID, owner := PlatformScope, int64(0)
	if in.Channel != "" {
		var err error
		if chID, owner, err = s.Channels.ChannelOwner(r.Context(), in.Channel); err != nil {
			s.WriteError(w, err)
			return
		}
	}
	p, err := s.Authorize(r, ActReport, chID, owner)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	target, err := s.Users.ByName(r.Context(), in.Username)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	id, err := s.Mod.FileReport(r.Context(), p.UserID(), target.ID, chID, in.MessageID, in.Reason)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"id": id, "status": "open"})
}

func (s *Service) resolveReport(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "report id must be a number")
		return
	}
	var in struct {
		Status string `json:"status"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	chID, err := s.Mod.ReportChannel(r.Context(), id)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	var p Principal
	if chID == PlatformScope {
		p, err = s.Authorize(r, ActPlatformAdmin, 0, 0)
	} else {
		var owner int64
		owner, err = s.Channels.OwnerByID(r.Context(), chID)
		if err == nil {
			p, err = s.Authorize(r, ActChannelModerate, chID, owner)
		}
	}
	if err != nil {
		s.WriteError(w, err)
		return
	}
	if err := s.Mod.Resolve(r.Context(), id, p.UserID(), in.Status); err != nil {
		s.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"id": id, "status": in.Status})
}

func (s *Service) follow(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActFollow)
	if !ok {
		return
	}
	if err := s.Mod.Follow(r.Context(), p.UserID(), chID); err != nil {
		s.internal(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.StandingChanged, ChannelID: chID, UserID: p.UserID()})
	httpjson.Write(w, http.StatusOK, map[string]bool{"following": true})
}

// followState answers whether the caller follows the channel and how many do.
func (s *Service) followState(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActWatch)
	if !ok {
		return
	}
	n, err := s.Mod.Followers(r.Context(), chID)
	if err != nil {
		s.internal(w, err)
		return
	}
	following := false
	if p.User != nil {
		if following, err = s.Mod.Follows(r.Context(), p.User.ID, chID); err != nil {
			s.internal(w, err)
			return
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"following": following, "followers": n})
}

func (s *Service) unfollow(w http.ResponseWriter, r *http.Request) {
	p, chID, _, ok := s.inChannel(w, r, ActFollow)
	if !ok {
		return
	}
	if err := s.Mod.Unfollow(r.Context(), p.UserID(), chID); err != nil {
		s.internal(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.StandingChanged, ChannelID: chID, UserID: p.UserID()})
	httpjson.Write(w, http.StatusOK, map[string]bool{"following": false})
}

// --- platform admin ---

func (s *Service) adminUsers(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, ActPlatformAdmin, 0, 0); err != nil {
		s.WriteError(w, err)
		return
	}
	users, err := s.Users.Search(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")), 100)
	if err != nil {
		s.internal(w, err)
		return
	}
	type row struct {
		User
		Level  int      `json:"level"`
		Roles  []string `json:"roles"`
		Banned bool     `json:"platform_banned"`
	}
	out := []row{}
	for _, u := range users {
		_, _, banned, err := s.Mod.Active(r.Context(), -1, u.ID, time.Now())
		if err != nil {
			s.internal(w, err)
			return
		}
		out = append(out, row{User: u, Level: u.Level(), Roles: u.Roles(), Banned: banned})
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Service) adminTarget(w http.ResponseWriter, r *http.Request) (Principal, User, bool) {
	p, err := s.Authorize(r, ActPlatformAdmin, 0, 0)
	if err != nil {
		s.WriteError(w, err)
		return p, User{}, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "user id must be a number")
		return p, User{}, false
	}
	u, err := s.Users.Get(r.Context(), id)
	if err != nil {
		s.WriteError(w, err)
		return p, User{}, false
	}
	return p, u, true
}

func (s *Service) adminRoles(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.adminTarget(w, r)
	if !ok {
		return
	}
	in := struct {
		Admin    *bool `json:"admin"`
		Streamer *bool `json:"streamer"`
	}{}
	if !s.decode(w, r, &in) {
		return
	}
	if in.Admin != nil {
		u.IsAdmin = *in.Admin
	}
	if in.Streamer != nil {
		u.CanStream = *in.Streamer
	}
	if err := s.Users.SetRoles(r.Context(), u.ID, u.IsAdmin, u.CanStream); err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(u.ID, IdentityRoles)
	httpjson.Write(w, http.StatusOK, map[string]any{"id": u.ID, "username": u.Username, "roles": u.Roles()})
}

func (s *Service) adminBan(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.adminTarget(w, r)
	if !ok {
		return
	}
	var in targetJSON
	if !s.decode(w, r, &in) {
		return
	}
	if u.IsAdmin {
		httpjson.Error(w, http.StatusForbidden, "revoke admin rights before banning an admin")
		return
	}
	if in.Minutes < 0 {
		httpjson.Error(w, http.StatusBadRequest, "minutes must not be negative")
		return
	}
	sn, err := s.Mod.Sanction(r.Context(), "ban", PlatformScope, u.ID, p.UserID(), in.Reason, time.Duration(in.Minutes)*time.Minute)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(u.ID, IdentityBanned)
	sn.Username = u.Username
	httpjson.Write(w, http.StatusCreated, sn)
}

func (s *Service) adminUnban(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.adminTarget(w, r)
	if !ok {
		return
	}
	if err := s.Mod.Lift(r.Context(), "ban", PlatformScope, u.ID, p.UserID()); err != nil {
		s.WriteError(w, err)
		return
	}
	s.identityChanged(u.ID, IdentityUnbanned)
	httpjson.Write(w, http.StatusOK, map[string]string{"lifted": "ban", "username": u.Username})
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, ActPlatformAdmin, 0, 0); err != nil {
		s.WriteError(w, err)
		return
	}
	st, err := s.Settings(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	s.writeSettings(w, st)
}

// writeSettings answers with the switches, the stored limit overrides (0:
// default) and the limits in force.
func (s *Service) writeSettings(w http.ResponseWriter, st Settings) {
	httpjson.Write(w, http.StatusOK, map[string]any{"open_streaming": st.OpenStreaming, "rate_limits": st.Limits,
		"rate_limits_in_force": s.EffectiveLimits()})
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, ActPlatformAdmin, 0, 0); err != nil {
		s.WriteError(w, err)
		return
	}
	var in struct {
		OpenStreaming bool          `json:"open_streaming"`
		RateLimits    *RateSettings `json:"rate_limits"`
	}
	if !s.decode(w, r, &in) {
		return
	}
	st, err := s.Settings(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	st.OpenStreaming = in.OpenStreaming
	if in.RateLimits != nil {
		st.Limits = *in.RateLimits
	}
	if err := s.SetSettings(r.Context(), st); err != nil {
		s.WriteError(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.SettingsChanged})
	s.writeSettings(w, st)
}
