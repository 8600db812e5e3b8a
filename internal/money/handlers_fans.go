package money

import (
	"net/http"
	"strings"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Catalog editors (a channel's own gifts, the platform's catalog) and
// memberships and fan medals.

func (h *Handlers) channelGifts(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	h.listGifts(w, r, chID)
}

func (h *Handlers) createChannelGift(w http.ResponseWriter, r *http.Request) {
	if chID, _, ok := h.channel(w, r, policy.ActChannelManage); ok {
		h.saveGift(w, r, chID, true)
	}
}

func (h *Handlers) updateChannelGift(w http.ResponseWriter, r *http.Request) {
	if chID, _, ok := h.channel(w, r, policy.ActChannelManage); ok {
		h.saveGift(w, r, chID, false)
	}
}

func (h *Handlers) retireChannelGift(w http.ResponseWriter, r *http.Request) {
	if chID, _, ok := h.channel(w, r, policy.ActChannelManage); ok {
		h.retireGift(w, r, chID)
	}
}

func (h *Handlers) adminGifts(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); ok {
		h.listGifts(w, r, 0)
	}
}

func (h *Handlers) adminCreateGift(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); ok {
		h.saveGift(w, r, 0, true)
	}
}

func (h *Handlers) adminUpdateGift(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); ok {
		h.saveGift(w, r, 0, false)
	}
}

func (h *Handlers) adminRetireGift(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); ok {
		h.retireGift(w, r, 0)
	}
}

func (h *Handlers) listGifts(w http.ResponseWriter, r *http.Request, scope int64) {
	gifts, err := h.Money.ChannelGifts(r.Context(), scope)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"gifts": gifts})
}

// saveGift creates (POST, id in the body) or updates (PUT, id in the path)
// a gift in scope (a channel, or 0 for the platform).
func (h *Handlers) saveGift(w http.ResponseWriter, r *http.Request, scope int64, create bool) {
	var g Gift
	if !httpjson.Read(w, r, &g) {
		return
	}
	var err error
	if create {
		g, err = h.Money.CreateGift(r.Context(), scope, g)
	} else {
		g.ID = r.PathValue("id")
		g, err = h.Money.UpdateGift(r.Context(), scope, g)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	code := http.StatusOK
	if create {
		code = http.StatusCreated
	}
	httpjson.Write(w, code, g)
}

func (h *Handlers) retireGift(w http.ResponseWriter, r *http.Request, scope int64) {
	if err := h.Money.RetireGift(r.Context(), scope, r.PathValue("id")); err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fans answers what supporting a channel offers (tiers, medal name) and,
// for a signed-in viewer, their membership and medal there.
func (h *Handlers) fans(w http.ResponseWriter, r *http.Request) {
	chID, p, ok := h.channel(w, r, policy.ActWatch)
	if !ok {
		return
	}
	ctx := r.Context()
	slug := r.PathValue("slug")
	tiers, err := h.Money.Tiers(ctx, chID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	name, err := h.Money.MedalName(ctx, chID, slug)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := map[string]any{"tiers": tiers, "medal_name": name, "medal_levels": map[string]any{"max": MaxMedalLevel,
		"rule": "level n needs 100*(n-1)^2 intimacy; 1 coin spent is 1 intimacy; the 5th minute watched each day adds 50 to a medal you hold"}}
	if p.User != nil {
		mem, err := h.Money.MembershipOf(ctx, p.User.ID, chID)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		medal, err := h.Money.MedalOf(ctx, p.User.ID, chID, slug)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		out["membership"], out["medal"] = mem, medal
	}
	httpjson.Write(w, http.StatusOK, out)
}

// buyMembership answers POST /api/channels/{slug}/membership
// {"tier","months","idempotency_key"[,"auto_renew"][,"price"]}: price, if
// given, is the monthly price the viewer was shown; auto_renew, if absent,
// keeps the membership's setting.
func (h *Handlers) buyMembership(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tier           int    `json:"tier"`
		Months         int    `json:"months"`
		IdempotencyKey string `json:"idempotency_key"`
		AutoRenew      *bool  `json:"auto_renew"`
		Price          *int64 `json:"price"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	chID, u, refused, ok := h.spender(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	if in.Months == 0 {
		in.Months = 1
	}
	p, err := h.Money.BuyMembershipOrder(r.Context(), MembershipOrder{UserID: u.ID, UserName: u.Username, ChannelID: chID, Room: r.PathValue("slug"),
		Tier: in.Tier, Months: in.Months, Key: strings.TrimSpace(in.IdempotencyKey), AutoRenew: in.AutoRenew, Price: in.Price, Refused: refused})
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	code := http.StatusCreated
	if p.Duplicate {
		code = http.StatusOK
	}
	httpjson.Write(w, code, p)
}

// setAutoRenew answers PUT /api/channels/{slug}/membership {"auto_renew"
// [,"price"]}. Switching it on agrees to renewals at up to the tier's
// current monthly price; if that rose since the member last paid, price
// must repeat it (else 409 price_changed). A disabled channel cannot have
// it switched on; off always works.
func (h *Handlers) setAutoRenew(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AutoRenew bool   `json:"auto_renew"`
		Price     *int64 `json:"price"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	chID, u, refused, ok := h.spender(w, r, r.PathValue("slug"))
	if !ok {
		return
	}
	if refused != nil && in.AutoRenew {
		httpjson.Fail(w, refused)
		return
	}
	if err := h.Money.SetAutoRenew(r.Context(), u.ID, chID, in.AutoRenew, in.Price); err != nil {
		httpjson.Fail(w, err)
		return
	}
	m, err := h.Money.MembershipOf(r.Context(), u.ID, chID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, m)
}

func (h *Handlers) setTiers(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	var in struct {
		Tiers []Tier `json:"tiers"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := h.Money.SetTiers(r.Context(), chID, in.Tiers); err != nil {
		httpjson.Fail(w, err)
		return
	}
	tiers, err := h.Money.Tiers(r.Context(), chID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tiers": tiers})
}

func (h *Handlers) setMedal(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	name, err := h.Money.SetMedalName(r.Context(), chID, in.Name)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if h.Money.deps.Publish != nil {
		h.Money.deps.Publish(bus.Event{Type: bus.MedalChanged, ChannelID: chID})
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"name": name})
}
