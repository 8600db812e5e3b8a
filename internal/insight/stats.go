// Package insight answers what is happening on the platform: a channel's
// live numbers for its studio now; dashboards (watch time, retention,
// revenue by room) later.
package insight

import (
	"context"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/policy"
)

// Sources are the domains the numbers come from.
type Sources struct {
	// Accounts resolves a channel-scoped request and its caller (the
	// account domain's channel-scope middleware).
	Accounts interface {
		InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc
	}
	// Live is the live directory: a channel's state on whichever node
	// ingests it.
	Live interface {
		Lookup(slug string) (live.State, bool)
		// HealthHistory is the last minutes of a stream's ingest when this
		// node ingests it, nil otherwise.
		HealthHistory(slug string) []live.HealthPoint
	}
	Rooms interface {
		Counters(ctx context.Context, slug string) (likes, shares int64, err error)
		DanmakuSince(ctx context.Context, slug string, since time.Time) (int, error)
	}
	// Online is how many are in the room's chat on every node.
	Online func(slug string) int
	Money  interface {
		GiftsSince(ctx context.Context, channelID int64, since time.Time) (gifts, coins int64, err error)
		Earnings(ctx context.Context, channelID int64) (int64, error)
	}
}

// Handlers serves the insight API.
type Handlers struct{ Sources }

// New builds the insight domain on its sources.
func New(s Sources) (*Handlers, error) { return &Handlers{Sources: s}, nil }

// Routes adds the routes.
func (h *Handlers) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels/{slug}/stats", h.Accounts.InChannel(policy.ActChannelModerate, h.channelStats))
	mux.HandleFunc("GET /api/channels/{slug}/health", h.Accounts.InChannel(policy.ActChannelModerate, h.channelHealth))
}

// StreamHealth is GET /api/channels/{slug}/health: the ingest's figures and
// warnings, and (from the node that ingests) a point a second for the last
// five minutes.
type StreamHealth struct {
	Live bool `json:"live"`
	live.Health
	History []live.HealthPoint `json:"history"`
}

func (h *Handlers) channelHealth(w http.ResponseWriter, r *http.Request, ch policy.Channel, _ policy.Principal) {
	out := StreamHealth{Health: live.Health{Warnings: []string{}}, History: []live.HealthPoint{}}
	if ls, ok := h.Live.Lookup(ch.Slug); ok {
		out.Live = true
		if ls.Health != nil {
			out.Health = *ls.Health
		}
		if hist := h.Live.HealthHistory(ch.Slug); hist != nil {
			out.History = hist
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// Close ends the domain; it owns no goroutine. Safe to call more than once.
func (h *Handlers) Close(context.Context) error { return nil }

// ChannelStats is a channel's numbers right now.
type ChannelStats struct {
	Live              bool    `json:"live"`
	Viewers           int     `json:"viewers"`
	Online            int     `json:"online"`
	UptimeSeconds     int64   `json:"uptime_seconds"`
	BitrateKbps       int     `json:"bitrate_kbps"`
	FPS               float64 `json:"fps"`
	DanmakuLastMinute int     `json:"danmaku_last_minute"`
	DanmakuToday      int     `json:"danmaku_today"`
	Likes             int64   `json:"likes"`
	Shares            int64   `json:"shares"`
	GiftsToday        int64   `json:"gifts_today"`
	// Money: only for the channel's owner and platform admins, never for
	// its moderators.
	GiftCoinsToday *int64 `json:"gift_coins_today,omitempty"`
	Earnings       *int64 `json:"earnings,omitempty"`
}

// channelStats answers GET /api/channels/{slug}/stats for the channel's
// owner, its moderators and admins ("today" is since 00:00 UTC); the money
// figures go only to those who may manage the channel (owner, admins).
func (h *Handlers) channelStats(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	ctx := r.Context()
	slug, chID := ch.Slug, ch.ID
	var err error
	now := time.Now()
	midnight := now.UTC().Truncate(24 * time.Hour)
	var st ChannelStats
	if ls, ok := h.Live.Lookup(slug); ok {
		st.Live, st.Viewers = true, ls.Viewers
		st.UptimeSeconds = int64(now.Sub(ls.StartedAt) / time.Second)
		st.BitrateKbps, st.FPS = ls.BitrateKbps, ls.FPS
	}
	if h.Online != nil {
		st.Online = h.Online(slug)
	}
	fail := func(err error) bool {
		if err != nil {
			httpjson.Fail(w, err)
			return true
		}
		return false
	}
	if st.Likes, st.Shares, err = h.Rooms.Counters(ctx, slug); fail(err) {
		return
	}
	if st.DanmakuLastMinute, err = h.Rooms.DanmakuSince(ctx, slug, now.Add(-time.Minute)); fail(err) {
		return
	}
	if st.DanmakuToday, err = h.Rooms.DanmakuSince(ctx, slug, midnight); fail(err) {
		return
	}
	var coins int64
	if st.GiftsToday, coins, err = h.Money.GiftsSince(ctx, chID, midnight); fail(err) {
		return
	}
	if policy.Decide(p, policy.ActChannelManage, policy.ChannelRoles{ChannelID: chID, OwnerID: ch.OwnerID}, policy.Settings{}) == nil {
		earnings, err := h.Money.Earnings(ctx, chID)
		if fail(err) {
			return
		}
		st.GiftCoinsToday, st.Earnings = &coins, &earnings
	}
	httpjson.Write(w, http.StatusOK, st)
}
