package moderation

import (
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// channelHandler serves a request in one channel (account's InChannel
// resolved it and authorized the caller).
type channelHandler = func(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal)

func (s *Service) getRules(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	rules, err := s.Store.Rules(r.Context(), ch.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, rules)
}

func (s *Service) putRules(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	rules := policy.DefaultRules()
	if !httpjson.Read(w, r, &rules) {
		return
	}
	if err := s.Store.SetRules(r.Context(), ch.ID, p.UserID(), rules); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.RulesChanged, ChannelID: ch.ID, ActorID: p.UserID()})
	httpjson.Write(w, http.StatusOK, rules)
}

func (s *Service) listModerators(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	mods, err := s.Store.Moderators(r.Context(), ch.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"moderators": mods})
}

type targetJSON struct {
	Username string `json:"username"`
	Reason   string `json:"reason"`
	Minutes  int    `json:"minutes"`
}

func (s *Service) appointModerator(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	var in targetJSON
	if !httpjson.Read(w, r, &in) {
		return
	}
	u, err := s.Users.ByName(r.Context(), in.Username)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := s.Store.Appoint(r.Context(), ch.ID, u.ID, p.UserID()); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.ModeratorsChanged, ChannelID: ch.ID, ActorID: p.UserID(), UserID: u.ID})
	httpjson.Write(w, http.StatusCreated, map[string]string{"moderator": u.Username})
}

func (s *Service) dismissModerator(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	u, err := s.Users.ByName(r.Context(), r.PathValue("username"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := s.Store.Dismiss(r.Context(), ch.ID, u.ID, p.UserID()); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.announce(bus.Event{Type: bus.ModeratorsChanged, ChannelID: ch.ID, ActorID: p.UserID(), UserID: u.ID})
	httpjson.Write(w, http.StatusOK, map[string]string{"dismissed": u.Username})
}

// mayTarget keeps moderators from sanctioning the owner or each other;
// the owner and admins may sanction moderators.
func (s *Service) mayTarget(r *http.Request, p policy.Principal, ch policy.Channel, target policy.User) error {
	if target.ID == ch.OwnerID {
		return &policy.Denied{Reason: "the channel owner cannot be muted or banned in their channel"}
	}
	if target.IsAdmin && !p.IsAdmin() {
		return &policy.Denied{Reason: "platform admins cannot be sanctioned by channel moderators"}
	}
	if p.IsAdmin() || p.UserID() == ch.OwnerID {
		return nil
	}
	isMod, err := s.Store.IsModerator(r.Context(), ch.ID, target.ID)
	if err != nil {
		return err
	}
	if isMod {
		return &policy.Denied{Reason: "moderators cannot sanction other moderators; ask the owner"}
	}
	return nil
}

func (s *Service) sanction(kind string) channelHandler {
	return func(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
		var in targetJSON
		if !httpjson.Read(w, r, &in) {
			return
		}
		u, err := s.Users.ByName(r.Context(), in.Username)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		if err := s.mayTarget(r, p, ch, u); err != nil {
			httpjson.Fail(w, err)
			return
		}
		if in.Minutes < 0 {
			httpjson.Error(w, http.StatusBadRequest, "minutes must not be negative")
			return
		}
		sn, err := s.Store.Sanction(r.Context(), kind, ch.ID, u.ID, p.UserID(), in.Reason, time.Duration(in.Minutes)*time.Minute)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		s.announce(bus.Event{Type: bus.SanctionsChanged, ChannelID: ch.ID, ActorID: p.UserID(), UserID: u.ID})
		sn.Username = u.Username
		httpjson.Write(w, http.StatusCreated, sn)
	}
}

func (s *Service) lift(kind string) channelHandler {
	return func(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
		u, err := s.Users.ByName(r.Context(), r.PathValue("username"))
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		if err := s.Store.Lift(r.Context(), kind, ch.ID, u.ID, p.UserID()); err != nil {
			httpjson.Fail(w, err)
			return
		}
		s.announce(bus.Event{Type: bus.SanctionsChanged, ChannelID: ch.ID, ActorID: p.UserID(), UserID: u.ID})
		httpjson.Write(w, http.StatusOK, map[string]string{"lifted": kind, "username": u.Username})
	}
}

func (s *Service) listSanctions(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	list, err := s.Store.ListSanctions(r.Context(), ch.ID, time.Now())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"sanctions": list})
}

func (s *Service) modLog(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	entries, err := s.Store.Log(r.Context(), ch.ID, 200)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"log": entries})
}
