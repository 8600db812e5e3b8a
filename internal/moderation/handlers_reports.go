package moderation

import (
	"net/http"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

func (s *Service) channelReports(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	s.writeReports(w, r, ch.ID)
}

func (s *Service) platformReports(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
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
	list, err := s.Store.Reports(r.Context(), chID, status, 200)
	if err != nil {
		httpjson.Fail(w, err)
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
	if !httpjson.Read(w, r, &in) {
		return
	}
	chID, owner := PlatformScope, int64(0)
	if in.Channel != "" {
		var err error
		if chID, owner, err = s.Channels.ChannelOwner(r.Context(), in.Channel); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	p, err := s.Accounts.Authorize(r, policy.ActReport, chID, owner)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	target, err := s.Users.ByName(r.Context(), in.Username)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	reporter := ""
	if p.User != nil {
		reporter = p.User.Username
	}
	if err := (&Names{Stage: s.Screen, Store: s.Store, Log: s.Log}).Screen(r.Context(), KindReport, chID, p.UserID(), reporter, in.Reason); err != nil {
		httpjson.Fail(w, err)
		return
	}
	id, err := s.Store.FileReport(r.Context(), p.UserID(), target.ID, chID, in.MessageID, in.Reason)
	if err != nil {
		httpjson.Fail(w, err)
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
	if !httpjson.Read(w, r, &in) {
		return
	}
	chID, err := s.Store.ReportChannel(r.Context(), id)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var p policy.Principal
	if chID == PlatformScope {
		p, err = s.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0)
	} else {
		var owner int64
		owner, err = s.Channels.OwnerByID(r.Context(), chID)
		if err == nil {
			p, err = s.Accounts.Authorize(r, policy.ActChannelModerate, chID, owner)
		}
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := s.Store.Resolve(r.Context(), id, p.UserID(), in.Status); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"id": id, "status": in.Status})
}

func (s *Service) adminBan(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.Accounts.AdminTarget(w, r)
	if !ok {
		return
	}
	var in targetJSON
	if !httpjson.Read(w, r, &in) {
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
	sn, err := s.Store.Sanction(r.Context(), "ban", PlatformScope, u.ID, p.UserID(), in.Reason, time.Duration(in.Minutes)*time.Minute)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.Accounts.IdentityChanged(u.ID, account.IdentityBanned)
	sn.Username = u.Username
	httpjson.Write(w, http.StatusCreated, sn)
}

func (s *Service) adminUnban(w http.ResponseWriter, r *http.Request) {
	p, u, ok := s.Accounts.AdminTarget(w, r)
	if !ok {
		return
	}
	if err := s.Store.Lift(r.Context(), "ban", PlatformScope, u.ID, p.UserID()); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.Accounts.IdentityChanged(u.ID, account.IdentityUnbanned)
	httpjson.Write(w, http.StatusOK, map[string]string{"lifted": "ban", "username": u.Username})
}
