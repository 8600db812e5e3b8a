package account

import (
	"net/http"
	"strconv"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

func (s *Service) listTokens(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountRead, 0, 0)
	if err == nil && p.User == nil {
		err = &policy.Denied{Reason: "the admin token has no personal tokens"}
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	toks, err := s.Tokens.List(r.Context(), p.User.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tokens": toks, "scopes": policy.AllScopes()})
}

func (s *Service) createToken(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountManage, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	tok, secret, err := s.Tokens.Create(r.Context(), p.User.ID, in.Name, in.Scopes)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"token": secret, "id": tok.ID, "name": tok.Name, "scopes": tok.Scopes})
}

func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, err := s.Authorize(r, policy.ActAccountManage, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "token id must be a number")
		return
	}
	if err := s.Tokens.Revoke(r.Context(), p.User.ID, id); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.IdentityChanged(p.User.ID, IdentityTokenRevoked)
	httpjson.Write(w, http.StatusOK, map[string]bool{"revoked": true})
}
