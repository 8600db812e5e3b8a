package webrtc

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Refusals shared by WHIP and WHEP.
var (
	errShuttingDown    = &httpjson.Problem{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the server is shutting down", Retry: 5 * time.Second}
	errTooManySessions = &httpjson.Problem{Status: http.StatusServiceUnavailable, Code: "server_full", Message: "this server has no room for another WebRTC session; try again later", Retry: 10 * time.Second}
	errTooManyFromAddr = &httpjson.Problem{Status: http.StatusTooManyRequests, Code: "too_many_sessions", Message: "too many WebRTC sessions from your address", Retry: 10 * time.Second}
	errNoSession       = httpjson.NewProblem(http.StatusNotFound, "no_session", "no such WebRTC session")
)

// Routes registers WHIP (/whip/SLUG) and WHEP (/whep/SLUG) with their
// session resources (/whip/SLUG/ID) and CORS preflights. They must be
// served outside account authentication: the WHIP bearer token is a
// stream key, and neither uses cookies.
func (s *Server) Routes(mux *http.ServeMux) {
	for _, k := range []sessionKind{kindWHIP, kindWHEP} {
		base := "/" + string(k) + "/{slug}"
		if k == kindWHIP {
			mux.HandleFunc("POST "+base, s.postWHIP)
		} else {
			mux.HandleFunc("POST "+base, s.postWHEP)
		}
		mux.HandleFunc("OPTIONS "+base, s.preflight)
		mux.HandleFunc("PATCH "+base+"/{id}", s.patch(k))
		mux.HandleFunc("DELETE "+base+"/{id}", s.delete(k))
		mux.HandleFunc("OPTIONS "+base+"/{id}", s.preflight)
	}
}

// cors lets pages on other origins publish and play (a WHIP/WHEP player
// embedded elsewhere); credentials are bearer tokens, never cookies.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch")
}

// iceServerLinks lists the STUN servers for the client (RFC 9725 4.6).
func (s *Server) iceServerLinks(w http.ResponseWriter) {
	for _, u := range s.stun {
		w.Header().Add("Link", "<"+u+`>; rel="ice-server"`)
	}
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	cors(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "OPTIONS, POST, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Accept-Post", "application/sdp")
	s.iceServerLinks(w)
	w.WriteHeader(http.StatusNoContent)
}

// hasType checks a request's Content-Type.
func hasType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

// readBody reads at most maxSDP bytes of SDP (offer or fragment).
func readBody(w http.ResponseWriter, r *http.Request, contentType string) ([]byte, error) {
	if !hasType(r, contentType) {
		return nil, httpjson.NewProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as "+contentType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, httpjson.BadRequest(httpjson.CodeBodyTooLarge, "body is larger than %d bytes", maxSDP)
		}
		return nil, httpjson.BadRequest("bad_request", "request body could not be read")
	}
	if len(body) == 0 {
		return nil, httpjson.BadRequest(httpjson.CodeEmptyBody, "request body is empty; send an SDP offer")
	}
	return body, nil
}

// answer sends the SDP answer of a new session (201, RFC 9725 4.2).
func (s *Server) answer(w http.ResponseWriter, ss *session, sdp string) {
	cors(w)
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", ss.location())
	h.Set("ETag", ss.etag)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	h.Set("Cache-Control", "no-store")
	s.iceServerLinks(w)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, sdp)
}

// negotiate answers offer on pc and waits for ICE gathering, which is
// immediate with the shared sockets (their addresses are known).
func negotiate(r *http.Request, pc *pion.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", httpjson.BadRequest("bad_sdp", "the offer cannot be used: %v", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", httpjson.BadRequest("bad_sdp", "no answer to this offer: %v", err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-r.Context().Done():
		return "", r.Context().Err()
	case <-time.After(5 * time.Second):
		// Answer with what was gathered; the rest is not needed with a mux.
	}
	return pc.LocalDescription().SDP, nil
}

// patch adds trickled candidates to a session (RFC 9725 4.3).
func (s *Server) patch(kind sessionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		ss, ok := s.lookup(kind, r.PathValue("slug"), r.PathValue("id"))
		if !ok {
			httpjson.Fail(w, errNoSession)
			return
		}
		if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != ss.etag {
			httpjson.Fail(w, httpjson.NewProblem(http.StatusPreconditionFailed, "etag_mismatch", "If-Match does not name this ICE session"))
			return
		}
		body, err := readBody(w, r, "application/trickle-ice-sdpfrag")
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		frag, err := parseTrickle(string(body))
		if err != nil {
			httpjson.Fail(w, httpjson.BadRequest("bad_sdpfrag", "%v", err))
			return
		}
		if frag.Ufrag != "" && ss.remoteUfrag != "" && frag.Ufrag != ss.remoteUfrag {
			httpjson.Fail(w, httpjson.NewProblem(http.StatusUnprocessableEntity, "ice_restart_unsupported",
				"ICE restarts are not supported: start a new session"))
			return
		}
		for _, c := range frag.Candidates {
			if err := ss.pc.AddICECandidate(c); err != nil {
				httpjson.Fail(w, httpjson.BadRequest("bad_candidate", "candidate refused: %v", err))
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// delete ends a session (RFC 9725 4.4).
func (s *Server) delete(kind sessionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cors(w)
		ss, ok := s.lookup(kind, r.PathValue("slug"), r.PathValue("id"))
		if !ok {
			httpjson.Fail(w, errNoSession)
			return
		}
		if kind == kindWHIP {
			ss.end("publisher disconnected")
		} else {
			ss.end("viewer left")
		}
		w.WriteHeader(http.StatusOK)
	}
}

// bearer is the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
