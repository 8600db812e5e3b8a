package room

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
)

// Routes adds the room's HTTP routes (the WebSocket gateway is mounted
// separately at /ws).
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/rooms/{slug}/danmaku", s.postHTTP)
	mux.HandleFunc("GET /api/rooms/{slug}/danmaku", s.accounts.ThrottleBrowsing(s.historyHTTP))
	mux.HandleFunc("DELETE /api/rooms/{slug}/danmaku/{id}", s.deleteHTTP)
	mux.HandleFunc("POST /api/rooms/{slug}/likes", s.likeHTTP)
	mux.HandleFunc("POST /api/rooms/{slug}/shares", s.shareHTTP)
	mux.HandleFunc("GET /api/rooms/{slug}", s.roomHTTP)
	mux.HandleFunc("GET /api/channels/{slug}/chatters/{name}", s.accounts.ThrottleBrowsing(s.chatterHTTP))
}

func (s *Service) likeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Count int `json:"count"`
	}
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.BadBody(w, err)
		return
	}
	if err := s.Like(r.Context(), r.PathValue("slug"), in.Count); err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]int{"counted": in.Count})
}

func (s *Service) shareHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.Share(r.Context(), r.PathValue("slug")); err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]bool{"counted": true})
}

func (s *Service) roomHTTP(w http.ResponseWriter, r *http.Request) {
	likes, shares, err := s.Counters(r.Context(), r.PathValue("slug"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"room": r.PathValue("slug"), "likes": likes, "shares": shares})
}

// writeError answers a refusal with the protocol's code (ErrorCode: the
// same codes the WebSocket sends) and its HTTP status.
func (s *Service) writeError(w http.ResponseWriter, err error) {
	code, msg := ErrorCode(err)
	p := &httpjson.Problem{Status: http.StatusForbidden, Code: code, Message: msg, Reason: policy.DenialKind(err)}
	switch code {
	case "login_required":
		p.Status = http.StatusUnauthorized
	case "room_not_found", "message_not_found":
		p.Status = http.StatusNotFound
	case "too_fast", "slow_mode":
		p.Status, p.Retry = http.StatusTooManyRequests, time.Second
		var rv *policy.RuleViolation
		if errors.As(err, &rv) && rv.RetryAfter > 0 {
			p.Retry = rv.RetryAfter
		}
	case "empty", "control_chars", "bad_encoding", "bad_color", "bad_mode", "too_long", "invalid", "repeated", "bad_count", "reply_not_found", "bad_request":
		p.Status = http.StatusBadRequest
	case "internal":
		httpjson.Fail(w, httpjson.Internal(err))
		return
	case moderation.CodeBlocked:
		var b *moderation.Blocked
		if errors.As(err, &b) {
			p = b.Problem()
		}
	}
	httpjson.Fail(w, p)
}

func (s *Service) postHTTP(w http.ResponseWriter, r *http.Request) {
	var in PostInput
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.BadBody(w, err)
		return
	}
	m, err := s.Post(r.Context(), r.PathValue("slug"), in)
	var held *Held
	if errors.As(err, &held) { // pending review
		httpjson.Write(w, http.StatusAccepted, map[string]any{"held": true, "ticket": held.Ticket, "message": held.Error()})
		return
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, m)
}

func (s *Service) historyHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			httpjson.Error(w, http.StatusBadRequest, "limit must be 1 to 200")
			return
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 0 {
			httpjson.Error(w, http.StatusBadRequest, "before must be a message id")
			return
		}
	}
	msgs, err := s.History(r.Context(), r.PathValue("slug"), before, limit)
	if err != nil {
		s.writeError(w, err)
		return
	}
	out := map[string]any{"messages": msgs}
	if len(msgs) == limit {
		out["before"] = strconv.FormatInt(msgs[0].ID, 10)
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Service) deleteHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "message id must be a number")
		return
	}
	if err := s.Delete(r.Context(), r.PathValue("slug"), id); err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"deleted": strconv.FormatInt(id, 10)})
}
