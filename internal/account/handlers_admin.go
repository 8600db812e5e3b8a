package account

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

func (s *Service) adminUsers(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	users, err := s.Users.Search(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")), 100)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	type row struct {
		policy.User
		Level  int      `json:"level"`
		Roles  []string `json:"roles"`
		Banned bool     `json:"platform_banned"`
	}
	out := []row{}
	for _, u := range users {
		banned, err := s.roles.PlatformBanned(r.Context(), u.ID, time.Now())
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		out = append(out, row{User: u, Level: u.Level(), Roles: u.Roles(), Banned: banned})
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"users": out})
}

// AdminTarget authorizes a platform admin and reads the account of the
// request's {id}; on failure it has answered. (Moderation's platform bans
// use it too.)
func (s *Service) AdminTarget(w http.ResponseWriter, r *http.Request) (policy.Principal, policy.User, bool) {
	p, err := s.Authorize(r, policy.ActPlatformAdmin, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return p, policy.User{}, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "user id must be a number")
		return p, policy.User{}, false
	}
	u, err := s.Users.Get(r.Context(), id)
	if err != nil {
		httpjson.Fail(w, err)
		return p, policy.User{}, false
	}
	return p, u, true
}

func (s *Service) adminRoles(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.AdminTarget(w, r)
	if !ok {
		return
	}
	in := struct {
		Admin    *bool `json:"admin"`
		Streamer *bool `json:"streamer"`
	}{}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Admin != nil {
		u.IsAdmin = *in.Admin
	}
	if in.Streamer != nil {
		u.CanStream = *in.Streamer
	}
	if err := s.Users.SetRoles(r.Context(), u.ID, u.IsAdmin, u.CanStream); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.IdentityChanged(u.ID, IdentityRoles)
	httpjson.Write(w, http.StatusOK, map[string]any{"id": u.ID, "username": u.Username, "roles": u.Roles()})
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	st, err := s.Settings(r.Context())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.writeSettings(w, st)
}

// writeSettings answers with the switches, the stored limit overrides (0:
// default) and the limits in force.
func (s *Service) writeSettings(w http.ResponseWriter, st policy.Settings) {
	httpjson.Write(w, http.StatusOK, map[string]any{"open_streaming": st.OpenStreaming, "rate_limits": st.Limits,
		"rate_limits_in_force": s.EffectiveLimits()})
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		OpenStreaming bool                 `json:"open_streaming"`
		RateLimits    *policy.RateSettings `json:"rate_limits"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	st, err := s.Settings(r.Context())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	st.OpenStreaming = in.OpenStreaming
	if in.RateLimits != nil {
		st.Limits = *in.RateLimits
	}
	if err := s.SetSettings(r.Context(), st); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.SettingsChanged})
	s.writeSettings(w, st)
}
