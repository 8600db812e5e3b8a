package account

import (
	"context"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Authorize decides whether the request's principal may do a, in the
// channel (channelID, ownerID) or, with channelID 0, outside any channel.
func (s *Service) Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error) {
	return s.AuthorizeContext(r.Context(), a, channelID, ownerID)
}

// AuthorizeContext is Authorize for callers without a request (a WebSocket
// frame): the principal comes from ctx (see policy.WithPrincipal).
func (s *Service) AuthorizeContext(ctx context.Context, a policy.Action, channelID, ownerID int64) (policy.Principal, error) {
	p := policy.PrincipalFrom(ctx)
	roles := policy.ChannelRoles{ChannelID: channelID, OwnerID: ownerID}
	if p.User != nil && channelID != 0 {
		var err error
		if roles, err = s.roles.ChannelRoles(ctx, channelID, p.User.ID, time.Now()); err != nil {
			return p, err
		}
		roles.ChannelID, roles.OwnerID = channelID, ownerID
	}
	settings, err := s.Settings(ctx)
	if err != nil {
		return p, err
	}
	return p, policy.Decide(p, a, roles, settings)
}

// InChannel is the channel-scope middleware: it resolves the request's
// {slug} once (id, owner, disabled — a disabled channel is resolved, not
// refused), authorizes a there for the request's principal and hands both
// to h. An unknown channel or a refusal is answered here.
func (s *Service) InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ch, err := s.channels.Resolve(r.Context(), r.PathValue("slug"))
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		p, err := s.Authorize(r, a, ch.ID, ch.OwnerID)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		h(w, r, ch, p)
	}
}
