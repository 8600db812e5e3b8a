package channel

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
)

// LiveStreams tells which channels are live (the media hub).
type LiveStreams interface {
	// Lookup is a channel's live state on whichever node ingests it (the
	// live directory).
	Lookup(slug string) (live.State, bool)
	// Stream is a channel's stream when this node ingests it (its recent
	// frames are files here).
	Stream(slug string) (*media.Stream, bool)
	// Kick ends a channel's publish on this node.
	Kick(slug string) bool
}

// WatchRewards hears each counted minute a viewer watches a live channel
// (the money domain grows fan medals with it).
type WatchRewards interface {
	WatchMinute(ctx context.Context, userID, channelID int64, now time.Time) error
}

// Accounts is who is asking and the abuse defences on reads (the account
// domain).
type Accounts interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	ThrottleBrowsing(next http.HandlerFunc) http.HandlerFunc
	GuardChannelReads(next http.HandlerFunc) http.HandlerFunc
}

// Users finds accounts, names owners and credits watch time (the account
// domain's users).
type Users interface {
	ByName(ctx context.Context, name string) (policy.User, error)
	AwardWatchXP(ctx context.Context, userID int64, now time.Time) (bool, error)
	Usernames(ctx context.Context, ids []int64) (map[int64]string, error)
	IDsByNamePrefix(ctx context.Context, prefix string, limit int) ([]int64, error)
}

// Follows lists the channels a viewer follows, for the directory (the
// social domain).
type Follows interface {
	FollowedChannels(ctx context.Context, userID int64) ([]int64, error)
}

// Deps are what the channel domain's handlers are built on.
type Deps struct {
	Service  *Service
	Live     LiveStreams
	Accounts Accounts
	Users    Users
	Follows  Follows      // optional: no followed-first ordering
	Watch    WatchRewards // optional: watching grows no medal
	// Files is the data directory (covers, recent frames); empty: none.
	Files string
	// Kick ends a channel's stream on every node; nil: Live.Kick (this node).
	Kick func(slug string)
	// Publish tells every node a channel changed (disabled, owner, slug), so
	// their chat contexts reload it; nil: nobody listens.
	Publish func(bus.Event)
	// Ladder is the platform's ABR ladder default and whether it can run
	// (the studio's "Quality ladder"); zero: off, unavailable.
	Ladder LadderPlatform
	// ScreenTitle asks the content filter about a new title (channelID 0:
	// a channel being created); an error refuses it. Nil: any title.
	ScreenTitle func(ctx context.Context, channelID, userID int64, title string) error
}

// screenTitle runs ScreenTitle on a title being set.
func (h *Handlers) screenTitle(r *http.Request, channelID int64, p policy.Principal, in Input) error {
	if h.ScreenTitle == nil || in.Title == nil {
		return nil
	}
	return h.ScreenTitle(r.Context(), channelID, p.UserID(), strings.TrimSpace(*in.Title))
}

// Handlers serves /api/channels, the directory, covers and frames.
type Handlers struct {
	Deps
}

// New builds the channel domain's handlers on its service (built earlier:
// other domains resolve channels through it).
func New(d Deps) (*Handlers, error) {
	return &Handlers{Deps: d}, nil
}

// Close ends the handlers; they own no goroutine. Safe to call more than once.
func (h *Handlers) Close(context.Context) error { return nil }

// changed announces that channel id changed.
func (h *Handlers) changed(id int64) {
	if h.Publish != nil {
		h.Publish(bus.Event{Type: bus.ChannelChanged, ChannelID: id})
	}
}

// Routes adds the channel routes to mux.
func (h *Handlers) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels", h.Accounts.ThrottleBrowsing(h.list))
	mux.HandleFunc("POST /api/channels", h.create)
	mux.HandleFunc("GET /api/channels/{slug}", h.Accounts.GuardChannelReads(h.get))
	mux.HandleFunc("PATCH /api/channels/{slug}", h.update)
	mux.HandleFunc("POST /api/channels/{slug}/stream-key", h.regenerateKey)
	mux.HandleFunc("POST /api/channels/{slug}/backup-key", h.regenerateBackupKey)
	mux.HandleFunc("GET /api/channels/{slug}/live", h.Accounts.GuardChannelReads(h.live))
	mux.HandleFunc("GET /api/channels/{slug}/sessions", h.Accounts.ThrottleBrowsing(h.sessions))
	mux.HandleFunc("POST /api/channels/{slug}/heartbeat", h.heartbeat)
	mux.HandleFunc("GET /api/me/channels", h.mine)
	mux.HandleFunc("GET /api/directory", h.Accounts.ThrottleBrowsing(h.directory))
	mux.HandleFunc("PUT /api/channels/{slug}/cover", h.putCover)
	mux.HandleFunc("GET /covers/{slug}", h.serveCover)
	mux.HandleFunc("GET /frames/{file}", h.serveFrame)
	mux.HandleFunc("GET /api/channels/{slug}/schedule", h.Accounts.ThrottleBrowsing(h.getSchedule))
	mux.HandleFunc("POST /api/channels/{slug}/schedule", h.postSchedule)
	mux.HandleFunc("DELETE /api/channels/{slug}/schedule/{id}", h.deleteSchedule)
	mux.HandleFunc("GET /api/channels/{slug}/ladder", h.getLadder)
	mux.HandleFunc("PUT /api/channels/{slug}/ladder", h.putLadder)
	mux.HandleFunc("GET /api/channels/{slug}/emotes", h.Accounts.ThrottleBrowsing(h.listEmotes))
	mux.HandleFunc("POST /api/channels/{slug}/emotes", h.postEmote)
	mux.HandleFunc("DELETE /api/channels/{slug}/emotes/{name}", h.deleteEmote)
	mux.HandleFunc("GET /emotes/{channel}/{name}", h.serveEmote)
	mux.HandleFunc("GET /api/admin/channels", h.adminChannels)
	mux.HandleFunc("POST /api/admin/channels/{slug}", h.adminChannel)
}

// channelJSON is a channel as API clients see it, with its live state.
type channelJSON struct {
	ID        int64     `json:"id"`
	OwnerID   int64     `json:"owner_id"`
	Slug      string    `json:"slug"`
	Title     string    `json:"title"`
	Category  string    `json:"category"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	StreamKey string    `json:"stream_key,omitempty"`
	CoverURL  string    `json:"cover_url,omitempty"`
	Owner     string    `json:"owner,omitempty"` // the owner's name (single-channel reads)
	liveJSON
}

// liveJSON is a channel's live state; the stream fields are set only while live.
type liveJSON struct {
	Live    bool `json:"live"`
	Viewers int  `json:"viewers"`
	// ExternalPlayers is the part of Viewers watching with other players
	// than Livehouse's pages (VLC, apps), by playback session.
	ExternalPlayers int          `json:"external_players"`
	StartedAt       *time.Time   `json:"started_at,omitempty"`
	UptimeSeconds   int64        `json:"uptime_seconds,omitempty"`
	Tracks          []live.Track `json:"tracks,omitempty"`
	BitrateKbps     int          `json:"bitrate_kbps,omitempty"`
	FPS             float64      `json:"fps,omitempty"`
	HLSURL          string       `json:"hls_url"`
	// Node ingests the stream; its LL-HLS is served there (HLSURL on that
	// node). Here says whether that is this node.
	Node *live.Node `json:"node,omitempty"`
	Here bool       `json:"here,omitempty"`
}

func (h *Handlers) liveState(slug string) liveJSON {
	out := liveJSON{HLSURL: "/hls/" + slug + "/index.m3u8"}
	st, ok := h.Live.Lookup(slug)
	if !ok {
		return out
	}
	out.Live = true
	out.Viewers = st.Viewers
	out.ExternalPlayers = st.ExternalPlayers
	out.StartedAt = &st.StartedAt
	out.UptimeSeconds = int64(time.Since(st.StartedAt) / time.Second)
	out.Tracks = st.Tracks
	out.BitrateKbps = st.BitrateKbps
	out.FPS = st.FPS
	out.Node, out.Here = &st.Node, st.Local
	return out
}

func (h *Handlers) toJSON(c Channel) channelJSON {
	return channelJSON{
		ID: c.ID, OwnerID: c.OwnerID, Slug: c.Slug, Title: c.Title, Category: c.Category, Tags: c.Tags,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, CoverURL: coverURL(c), liveJSON: h.liveState(c.Slug),
	}
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) {
	p, err := h.Accounts.Authorize(r, policy.ActChannelCreate, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in Input
	if !httpjson.Read(w, r, &in) {
		return
	}
	owner := p.UserID()
	if in.Owner != nil {
		if !p.IsAdmin() {
			httpjson.Error(w, http.StatusForbidden, "only platform admins may create channels for someone else")
			return
		}
		u, err := h.Users.ByName(r.Context(), *in.Owner)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		owner = u.ID
	}
	if err := h.screenTitle(r, 0, p, in); err != nil {
		httpjson.Fail(w, err)
		return
	}
	c, key, err := h.Service.Create(r.Context(), in, owner)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := h.toJSON(c)
	out.StreamKey = key
	w.Header().Set("Location", "/api/channels/"+c.Slug)
	httpjson.Write(w, http.StatusCreated, out)
}

const maxPage = 100

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			httpjson.Error(w, http.StatusBadRequest, "limit must be a number from 1 to 100")
			return
		}
		limit = n
	}
	chans, err := h.Service.List(r.Context(), q.Get("after"), limit)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := struct {
		Channels []channelJSON `json:"channels"`
		Next     string        `json:"next,omitempty"`
	}{Channels: []channelJSON{}}
	for _, c := range chans {
		out.Channels = append(out.Channels, h.toJSON(c))
	}
	if len(chans) == limit {
		out.Next = chans[len(chans)-1].Slug
	}
	httpjson.Write(w, http.StatusOK, out)
}

// mine lists the signed-in account's channels (the studio's start page).
func (h *Handlers) mine(w http.ResponseWriter, r *http.Request) {
	p, err := h.Accounts.Authorize(r, policy.ActAccountRead, 0, 0)
	if err == nil && p.User == nil {
		err = &policy.Denied{Reason: "the admin token owns no channels; use an account"}
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	chans, err := h.Service.ByOwner(r.Context(), p.User.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := make([]channelJSON, 0, len(chans))
	for _, c := range chans {
		out = append(out, h.toJSON(c))
	}
	_, denied := h.Accounts.Authorize(r, policy.ActChannelCreate, 0, 0)
	httpjson.Write(w, http.StatusOK, map[string]any{"channels": out, "can_create": denied == nil})
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := h.toJSON(c)
	if h.Users != nil && c.OwnerID != 0 {
		names, err := h.Users.Usernames(r.Context(), []int64{c.OwnerID})
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		out.Owner = names[c.OwnerID]
	}
	httpjson.Write(w, http.StatusOK, out)
}

// authorizeManage lets the owner (or an admin) change the channel.
func (h *Handlers) authorizeManage(w http.ResponseWriter, r *http.Request) bool {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err == nil {
		_, err = h.Accounts.Authorize(r, policy.ActChannelManage, c.ID, c.OwnerID)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return false
	}
	return true
}

func (h *Handlers) update(w http.ResponseWriter, r *http.Request) {
	if !h.authorizeManage(w, r) {
		return
	}
	var in Input
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Owner != nil {
		httpjson.Error(w, http.StatusBadRequest, "the owner of a channel cannot be changed here")
		return
	}
	slug := r.PathValue("slug")
	if in.Title != nil && h.ScreenTitle != nil {
		cur, err := h.Service.Get(r.Context(), slug)
		if err == nil && strings.TrimSpace(*in.Title) != cur.Title {
			err = h.screenTitle(r, cur.ID, policy.PrincipalFrom(r.Context()), in)
		}
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	_, isLive := h.Live.Lookup(slug)
	c, err := h.Service.Update(r.Context(), slug, in, isLive)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	h.changed(c.ID)
	httpjson.Write(w, http.StatusOK, h.toJSON(c))
}

func (h *Handlers) regenerateKey(w http.ResponseWriter, r *http.Request) {
	if !h.authorizeManage(w, r) {
		return
	}
	key, err := h.Service.RegenerateKey(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"slug": r.PathValue("slug"), "stream_key": key})
}

// regenerateBackupKey makes or replaces the backup stream key (backup ingest).
func (h *Handlers) regenerateBackupKey(w http.ResponseWriter, r *http.Request) {
	if !h.authorizeManage(w, r) {
		return
	}
	key, err := h.Service.RegenerateBackupKey(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"slug": r.PathValue("slug"), "backup_key": key})
}

func (h *Handlers) live(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	if _, err := h.Service.Get(r.Context(), slug); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, h.liveState(slug))
}

func (h *Handlers) sessions(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	ss, err := h.Service.Sessions(r.Context(), c.ID, 20)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"sessions": ss})
}

// heartbeat is sent by a logged-in viewer's watch page once a minute while
// the stream plays; each minute of watching a live channel earns one point
// of experience. (The room's WebSocket heartbeat will feed watch-time
// analytics too; this is the part that levels need now.)
func (h *Handlers) heartbeat(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	p := policy.PrincipalFrom(r.Context())
	if p.User == nil {
		httpjson.Error(w, http.StatusUnauthorized, "log in to earn experience by watching")
		return
	}
	if _, live := h.Live.Lookup(c.Slug); !live {
		httpjson.Error(w, http.StatusConflict, "channel is not live")
		return
	}
	now := time.Now()
	earned, err := h.Users.AwardWatchXP(r.Context(), p.User.ID, now)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	// Only a counted minute counts for the medal too, so two tabs or two
	// nodes do not double it.
	if earned && h.Watch != nil {
		if err := h.Watch.WatchMinute(r.Context(), p.User.ID, c.ID, now); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"earned": earned})
}
