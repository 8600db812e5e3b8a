package room

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/trust"
)

// Register adds the room's HTTP routes (the WebSocket gateway is mounted
// separately at /ws).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/rooms/{slug}/danmaku", s.postHTTP)
	mux.HandleFunc("GET /api/rooms/{slug}/danmaku", s.trust.ThrottleBrowsing(s.historyHTTP))
	mux.HandleFunc("DELETE /api/rooms/{slug}/danmaku/{id}", s.deleteHTTP)
	mux.HandleFunc("POST /api/rooms/{slug}/likes", s.likeHTTP)
	mux.HandleFunc("POST /api/rooms/{slug}/shares", s.shareHTTP)
	mux.HandleFunc("GET /api/rooms/{slug}", s.roomHTTP)
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

func (s *Service) writeError(w http.ResponseWriter, err error) {
	code, msg := ErrorCode(err)
	status := http.StatusForbidden
	switch code {
	case "login_required":
		status = http.StatusUnauthorized
	case "room_not_found", "message_not_found":
		status = http.StatusNotFound
	case "too_fast", "slow_mode":
		status = http.StatusTooManyRequests
		var rv *trust.RuleViolation
		if errors.As(err, &rv) && rv.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(trust.RetryAfterSeconds(rv.RetryAfter)))
		} else {
			w.Header().Set("Retry-After", "1")
		}
	case "empty", "control_chars", "bad_encoding", "bad_color", "bad_mode", "too_long", "invalid", "repeated", "bad_count":
		status = http.StatusBadRequest
	case "internal":
		s.log.Error("room", "err", err)
		status = http.StatusInternalServerError
	}
	out := map[string]string{"error": msg, "code": code}
	if kind := trust.DenialKind(err); kind != "" {
		out["reason"] = kind
	}
	httpjson.Write(w, status, out)
}

func (s *Service) postHTTP(w http.ResponseWriter, r *http.Request) {
	var in PostInput
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.BadBody(w, err)
		return
	}
	m, err := s.Post(r.Context(), r.PathValue("slug"), in)
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
			httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1 to 200", "code": "bad_request"})
			return
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 0 {
			httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "before must be a message id", "code": "bad_request"})
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
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "message id must be a number", "code": "bad_request"})
		return
	}
	if err := s.Delete(r.Context(), r.PathValue("slug"), id); err != nil {
		s.writeError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"deleted": strconv.FormatInt(id, 10)})
}
