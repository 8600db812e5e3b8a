package room

import (
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// ErrNoChatter answers a user card for a name no account has.
var ErrNoChatter = httpjson.NewProblem(http.StatusNotFound, "user_not_found", "no such user")

// Card is what a click on a name in chat shows.
type Card struct {
	UserID int64           `json:"user_id"`
	Name   string          `json:"name"`
	Level  int             `json:"level"`
	Fan    policy.FanBadge `json:"fan"`
	// Channel is the slug of a channel the account owns ("": none).
	Channel string `json:"channel,omitempty"`
	// Owner and Moderator: the account's role in this channel.
	Owner     bool `json:"owner"`
	Moderator bool `json:"moderator"`
	// Moderates: the asker moderates this channel (owner, moderator,
	// admin). CanModerate: the asker may mute or ban this account here;
	// Muted and Banned are only given to those who can.
	Moderates   bool  `json:"moderates"`
	CanModerate bool  `json:"can_moderate"`
	Muted       *bool `json:"muted,omitempty"`
	Banned      *bool `json:"banned,omitempty"`
}

// chatterHTTP is GET /api/channels/{slug}/chatters/{name}: the user card.
func (s *Service) chatterHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	room, err := s.chat.room(ctx, r.PathValue("slug"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	asker, err := s.accounts.AuthorizeContext(ctx, policy.ActWatch, room.channelID, room.ownerID)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if s.users == nil {
		httpjson.Fail(w, ErrNoChatter)
		return
	}
	u, err := s.users.ByName(ctx, r.PathValue("name"))
	if err != nil {
		httpjson.Fail(w, ErrNoChatter)
		return
	}
	now := time.Now()
	c := Card{UserID: u.ID, Name: u.Username, Level: u.Level(), Owner: u.ID == room.ownerID, Moderator: room.mods[u.ID]}
	if st, err := s.chat.standing(ctx, u.ID, room); err == nil {
		c.Fan = st.badge.At(now)
	} else {
		s.log.Warn("user card: read standing", "err", err)
	}
	if s.ownedChannel != nil {
		if c.Channel, err = s.ownedChannel(ctx, u.ID); err != nil {
			s.log.Warn("user card: read owned channel", "err", err)
		}
	}
	if asker.User != nil {
		if _, err := s.accounts.AuthorizeContext(ctx, policy.ActChannelModerate, room.channelID, room.ownerID); err == nil {
			c.Moderates = true
			if asker.User.ID != u.ID && !c.Owner {
				roles := room.roles(u.ID, now)
				c.CanModerate, c.Muted, c.Banned = true, &roles.Muted, &roles.Banned
			}
		}
	}
	httpjson.Write(w, http.StatusOK, c)
}

// Routes adds the gateway's HTTP routes: the moderators' viewer list.
func (g *Gateway) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels/{slug}/viewers", g.viewersHTTP)
}

// viewersHTTP is GET /api/channels/{slug}/viewers (owner, moderators, admins).
func (g *Gateway) viewersHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	chID, owner, err := g.svc.channels.ChannelOwner(ctx, r.PathValue("slug"))
	if err != nil {
		g.svc.writeError(w, err)
		return
	}
	if _, err := g.svc.accounts.AuthorizeContext(ctx, policy.ActChannelModerate, chID, owner); err != nil {
		g.svc.writeError(w, err)
		return
	}
	viewers, anon, err := g.hub.Viewers(ctx, chID)
	if err != nil {
		httpjson.Fail(w, httpjson.Internal(err))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"viewers": viewers, "anonymous": anon})
}
