package moderation

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// The content filter's HTTP side: a channel's setting, its queues (held,
// blocked, hidden) and their decisions, appeals, and the platform's queues.

func (s *Service) filterRoutes(mux *http.ServeMux) {
	in := s.Accounts.InChannel
	mux.HandleFunc("GET /api/channels/{slug}/moderation/filter", in(policy.ActChannelModerate, s.getFilter))
	mux.HandleFunc("PUT /api/channels/{slug}/moderation/filter", in(policy.ActChannelManage, s.putFilter))
	mux.HandleFunc("GET /api/channels/{slug}/moderation/verdicts", in(policy.ActChannelModerate, s.channelVerdicts))
	mux.HandleFunc("POST /api/channels/{slug}/moderation/verdicts/{id}", in(policy.ActChannelModerate, s.channelDecide))
	mux.HandleFunc("GET /api/channels/{slug}/moderation/appeals", in(policy.ActChannelModerate, s.channelAppeals))
	mux.HandleFunc("POST /api/channels/{slug}/moderation/appeals/{id}", in(policy.ActChannelModerate, s.channelDecideAppeal))
	mux.HandleFunc("POST /api/moderation/appeals", s.fileAppeal)
	mux.HandleFunc("GET /api/moderation/tickets/{ticket}", s.ticket)
	mux.HandleFunc("GET /api/admin/moderation/verdicts", s.admin(s.platformVerdicts))
	mux.HandleFunc("POST /api/admin/moderation/verdicts/{id}", s.admin(s.platformDecide))
	mux.HandleFunc("GET /api/admin/moderation/appeals", s.admin(s.platformAppeals))
	mux.HandleFunc("POST /api/admin/moderation/appeals/{id}", s.admin(s.platformDecideAppeal))
}

// admin wraps a platform admin's handler.
func (s *Service) admin(h func(http.ResponseWriter, *http.Request, policy.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		h(w, r, p)
	}
}

func (s *Service) getFilter(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	fs, err := s.Store.FilterSetting(r.Context(), ch.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, fs)
}

func (s *Service) putFilter(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	var in FilterSetting
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := s.Store.SetFilterSetting(r.Context(), ch.ID, p.UserID(), in); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.Screen.Forget(ch.ID) // this node at once; others within the cache's few seconds
	httpjson.Write(w, http.StatusOK, in)
}

// verdictQuery reads ?action=hold|block|hide&pending=1&kind=…&before=ID.
func verdictQuery(r *http.Request, channelID int64) (VerdictQuery, error) {
	q := r.URL.Query()
	vq := VerdictQuery{ChannelID: channelID, Action: Action(q.Get("action")), Pending: q.Get("pending") == "1" || q.Get("pending") == "true"}
	switch vq.Action {
	case "", Hide, Hold, Block:
	default:
		return vq, httpjson.BadRequest("bad_request", "action must be hide, hold or block")
	}
	if k := q.Get("kind"); k != "" {
		vq.Kinds = []string{k}
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return vq, httpjson.BadRequest("bad_request", "before must be a verdict id")
		}
		vq.Before = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			return vq, httpjson.BadRequest("bad_request", "limit must be 1 to 200")
		}
		vq.Limit = n
	}
	return vq, nil
}

func (s *Service) writeVerdicts(w http.ResponseWriter, r *http.Request, channelID int64) {
	vq, err := verdictQuery(r, channelID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	list, err := s.Store.Verdicts(r.Context(), vq)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"verdicts": list})
}

func (s *Service) channelVerdicts(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	s.writeVerdicts(w, r, ch.ID)
}

func (s *Service) platformVerdicts(w http.ResponseWriter, r *http.Request, p policy.Principal) {
	s.writeVerdicts(w, r, -1)
}

// decisionJSON is a moderator's decision on a held message.
type decisionJSON struct {
	Decision string `json:"decision"` // approve | deny | deny_mute
	Minutes  int    `json:"minutes"`  // deny_mute: how long (default 10)
}

var decisions = map[string]string{"approve": DecisionApproved, "deny": DecisionDenied, "deny_mute": DecisionDeniedMuted}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpjson.Fail(w, httpjson.BadRequest("bad_request", "id must be a number"))
		return 0, false
	}
	return id, true
}

func (s *Service) channelDecide(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	s.decideHTTP(w, r, p, ch.ID)
}

func (s *Service) platformDecide(w http.ResponseWriter, r *http.Request, p policy.Principal) {
	s.decideHTTP(w, r, p, -1)
}

func (s *Service) decideHTTP(w http.ResponseWriter, r *http.Request, p policy.Principal, channelID int64) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in decisionJSON
	if !httpjson.Read(w, r, &in) {
		return
	}
	decision, known := decisions[in.Decision]
	if !known {
		httpjson.Fail(w, httpjson.BadRequest("bad_decision", "decision must be approve, deny or deny_mute"))
		return
	}
	if in.Minutes < 0 || in.Minutes > 30*24*60 {
		httpjson.Fail(w, httpjson.BadRequest("bad_request", "minutes must be 0 to 43200"))
		return
	}
	v, err := s.Store.Verdict(r.Context(), id)
	if err == nil && channelID >= 0 && v.ChannelID != channelID {
		err = ErrNoVerdict // another channel's: not this moderator's to see
	}
	if err == nil && v.Action != Hold {
		err = httpjson.BadRequest("not_held", "only held messages wait for a decision")
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out, err := s.Decide(r.Context(), v, p.UserID(), decision, time.Duration(in.Minutes)*time.Minute)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// Decide carries out a decision on a held verdict: approve publishes the
// message to its room (if that fails the verdict goes back to the queue);
// deny tells the sender; deny_mute also mutes them in the channel for
// mute (0: 10 minutes). The classifier hears every decision.
func (s *Service) Decide(ctx context.Context, v VerdictRecord, actorID int64, decision string, mute time.Duration) (VerdictRecord, error) {
	out, err := s.Store.Decide(ctx, v.ID, actorID, decision)
	if err != nil {
		return out, err
	}
	if decision == DecisionApproved && out.Kind == KindChat && len(out.Payload) > 0 && s.Rooms != nil {
		if _, err := s.Rooms.Release(ctx, out.ChannelID, out.Payload); err != nil {
			if uerr := s.Store.Undecide(context.WithoutCancel(ctx), out.ID); uerr != nil {
				s.Log.Error("reopen a held message after a failed release", "verdict", out.ID, "err", uerr)
			}
			return out, err
		}
	}
	if decision == DecisionDeniedMuted && out.ChannelID > 0 && out.UserID > 0 {
		if mute <= 0 {
			mute = 10 * time.Minute
		}
		if _, err := s.Store.Sanction(ctx, "mute", out.ChannelID, out.UserID, actorID, "held message denied", mute); err != nil {
			return out, err
		}
		s.announce(bus.Event{Type: bus.SanctionsChanged, ChannelID: out.ChannelID, ActorID: actorID, UserID: out.UserID})
	}
	if out.Kind == KindChat && s.Rooms != nil && out.ChannelID > 0 {
		s.Rooms.Reviewed(out.ChannelID, out.Ticket, out.Decision)
	}
	if decision == DecisionApproved {
		s.learn(ctx, out.Text, false, "approved")
	} else {
		s.learn(ctx, out.Text, true, "deleted")
	}
	return out, nil
}

// learn tells the classifier; a failure there never fails the decision.
func (s *Service) learn(ctx context.Context, text string, offensive bool, source string) {
	if s.Learner == nil || text == "" {
		return
	}
	if err := s.Learner.Feedback(ctx, text, offensive, source); err != nil {
		s.Log.Warn("filter feedback", "source", source, "err", err)
	}
}

func (s *Service) fileAppeal(w http.ResponseWriter, r *http.Request) {
	p, err := s.Accounts.Authorize(r, policy.ActAccountRead, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Ticket string `json:"ticket"`
		Reason string `json:"reason"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Ticket == "" || len(in.Ticket) > 64 {
		httpjson.Fail(w, httpjson.BadRequest("bad_request", "ticket is required"))
		return
	}
	a, err := s.Store.FileAppeal(r.Context(), p.UserID(), in.Ticket, in.Reason)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, a)
}

// ticket is GET /api/moderation/tickets/{ticket}: the sender's view of a
// verdict on their text (what happened, never the reasons).
func (s *Service) ticket(w http.ResponseWriter, r *http.Request) {
	p, err := s.Accounts.Authorize(r, policy.ActAccountRead, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	v, err := s.Store.VerdictByTicket(r.Context(), r.PathValue("ticket"))
	if err == nil && v.UserID != p.UserID() {
		err = ErrNoVerdict
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"ticket": v.Ticket, "action": v.Action, "category": v.Category, "decision": v.Decision})
}

func (s *Service) writeAppeals(w http.ResponseWriter, r *http.Request, channelID int64) {
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && !appealStatusValid[status] {
		httpjson.Fail(w, httpjson.BadRequest("bad_request", "status must be open, upheld or rejected"))
		return
	}
	list, err := s.Store.Appeals(r.Context(), channelID, status, 100)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"appeals": list})
}

func (s *Service) channelAppeals(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	s.writeAppeals(w, r, ch.ID)
}

func (s *Service) platformAppeals(w http.ResponseWriter, r *http.Request, p policy.Principal) {
	s.writeAppeals(w, r, -1)
}

func (s *Service) channelDecideAppeal(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	s.decideAppealHTTP(w, r, p, ch.ID)
}

func (s *Service) platformDecideAppeal(w http.ResponseWriter, r *http.Request, p policy.Principal) {
	s.decideAppealHTTP(w, r, p, -1)
}

func (s *Service) decideAppealHTTP(w http.ResponseWriter, r *http.Request, p policy.Principal, channelID int64) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in struct {
		Decision string `json:"decision"` // uphold | reject
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	status := map[string]string{"uphold": "upheld", "reject": "rejected"}[in.Decision]
	if status == "" {
		httpjson.Fail(w, httpjson.BadRequest("bad_decision", "decision must be uphold or reject"))
		return
	}
	a, err := s.Store.Appeal(r.Context(), id)
	if err == nil && channelID >= 0 && a.ChannelID != channelID {
		err = ErrNoAppeal
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if a, err = s.Store.DecideAppeal(r.Context(), id, p.UserID(), status); err != nil {
		httpjson.Fail(w, err)
		return
	}
	if status == "upheld" { // the filter was wrong: teach the classifier
		if v, err := s.Store.Verdict(r.Context(), a.VerdictID); err == nil {
			s.learn(r.Context(), v.Text, false, "appeal_upheld")
		}
	}
	httpjson.Write(w, http.StatusOK, a)
}
