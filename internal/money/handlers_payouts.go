package money

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Earnings, withdrawals and statements for channel owners; top-up orders
// for viewers; their review and the platform share for admins.

func (h *Handlers) earnings(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	sum, err := h.Money.Summary(r.Context(), chID, time.Now())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"earnings": sum.Available, "available": sum.Available, "today": sum.Today,
		"pending_withdrawals": sum.PendingWithdrawals, "paid_out": sum.PaidOut,
		"platform_share_bp": sum.PlatformShareBP, "min_withdrawal": MinWithdrawal,
	})
}

func (h *Handlers) channelWithdrawals(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	list, err := h.Money.Withdrawals(r.Context(), chID, "", 100)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"withdrawals": list})
}

// requestWithdrawal answers POST /api/channels/{slug}/withdrawals
// {"amount"[,"idempotency_key"]}. It needs channel.payout (the owner;
// tokens need the channel:payout scope). A disabled channel's earnings
// can still be withdrawn.
func (h *Handlers) requestWithdrawal(w http.ResponseWriter, r *http.Request) {
	chID, p, ok := h.channel(w, r, policy.ActPayout)
	if !ok {
		return
	}
	var in struct {
		Amount         int64  `json:"amount"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	wd, err := h.Money.RequestWithdrawal(r.Context(), chID, p.UserID(), in.Amount, strings.TrimSpace(in.IdempotencyKey))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	code := http.StatusCreated
	if wd.Duplicate {
		code = http.StatusOK
	}
	httpjson.Write(w, code, wd)
}

// statement sends ?from=YYYY-MM-DD&to=YYYY-MM-DD (to exclusive; default:
// this month so far) as CSV.
func (h *Handlers) statement(w http.ResponseWriter, r *http.Request) {
	chID, _, ok := h.channel(w, r, policy.ActChannelManage)
	if !ok {
		return
	}
	now := time.Now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := now.Add(time.Second)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				httpjson.Fail(w, &InputError{Msg: name + " must be a date like 2026-11-01"})
				return
			}
			*dst = t
		}
	}
	if !to.After(from) || to.Sub(from) > 366*24*time.Hour {
		httpjson.Fail(w, &InputError{Msg: "to must be after from, at most a year later"})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.csv"`,
		r.PathValue("slug"), from.Format("20060102"), to.Format("20060102")))
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Money.WriteStatement(r.Context(), w, chID, from, to); err != nil {
		// Headers are gone; the cut-off body is all the client can see.
		h.Money.log.Error("write statement", "channel", chID, "err", err)
	}
}

func (h *Handlers) requestTopup(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r, policy.ActAccountManage, 0, 0)
	if !ok {
		return
	}
	var in struct {
		Package        string `json:"package"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	o, err := h.Money.RequestTopup(r.Context(), u.ID, in.Package, strings.TrimSpace(in.IdempotencyKey))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	code := http.StatusCreated
	if o.Duplicate {
		code = http.StatusOK
	}
	httpjson.Write(w, code, o)
}

func (h *Handlers) myTopups(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r, policy.ActAccountRead, 0, 0)
	if !ok {
		return
	}
	list, err := h.Money.Topups(r.Context(), u.ID, "", 50)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"topups": list})
}

// reviewStatus reads ?status= for the admin queues (default pending).
func (h *Handlers) reviewStatus(w http.ResponseWriter, r *http.Request) (string, bool) {
	switch s := r.URL.Query().Get("status"); s {
	case "":
		return StatusPending, true
	case "all":
		return "", true
	case StatusPending, StatusApproved, StatusRejected:
		return s, true
	}
	httpjson.Fail(w, &InputError{Msg: "status must be pending, approved, rejected or all"})
	return "", false
}

// topupView is an order with its buyer's name, for the review queue.
type topupView struct {
	TopupOrder
	Username string `json:"username"`
}

// reviewQueue authorizes an admin and reads ?status= for a review list.
func (h *Handlers) reviewQueue(w http.ResponseWriter, r *http.Request) (status string, ok bool) {
	if _, ok := h.admin(w, r); !ok {
		return "", false
	}
	return h.reviewStatus(w, r)
}

// decide authorizes an admin, reads {id} and {decision} (and an optional
// {"note"}) and hands them to fn.
func (h *Handlers) decide(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id int64, approve bool, note string, actor int64) (any, error)) {
	p, ok := h.admin(w, r)
	if !ok {
		return
	}
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	approve, ok := h.decision(w, r)
	if !ok {
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 && !httpjson.Read(w, r, &in) {
		return
	}
	out, err := fn(r.Context(), id, approve, in.Note, p.UserID())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *Handlers) adminTopups(w http.ResponseWriter, r *http.Request) {
	status, ok := h.reviewQueue(w, r)
	if !ok {
		return
	}
	list, err := h.Money.Topups(r.Context(), 0, status, 200)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := make([]topupView, 0, len(list))
	for _, o := range list {
		v := topupView{TopupOrder: o}
		if u, err := h.Users.Get(r.Context(), o.UserID); err == nil {
			v.Username = u.Username
		}
		out = append(out, v)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"topups": out})
}

func (h *Handlers) decideTopup(w http.ResponseWriter, r *http.Request) {
	h.decide(w, r, func(ctx context.Context, id int64, approve bool, _ string, actor int64) (any, error) {
		return h.Money.DecideTopup(ctx, id, approve, actor)
	})
}

// withdrawalView is a request with its channel's slug, for the review queue.
type withdrawalView struct {
	Withdrawal
	Channel string `json:"channel"`
}

func (h *Handlers) adminWithdrawals(w http.ResponseWriter, r *http.Request) {
	status, ok := h.reviewQueue(w, r)
	if !ok {
		return
	}
	list, err := h.Money.Withdrawals(r.Context(), 0, status, 200)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := make([]withdrawalView, 0, len(list))
	for _, wd := range list {
		v := withdrawalView{Withdrawal: wd}
		if slug, err := h.Channels.ChannelSlug(r.Context(), wd.ChannelID); err == nil {
			v.Channel = slug
		}
		out = append(out, v)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"withdrawals": out})
}

func (h *Handlers) decideWithdrawal(w http.ResponseWriter, r *http.Request) {
	h.decide(w, r, func(ctx context.Context, id int64, approve bool, note string, actor int64) (any, error) {
		return h.Money.DecideWithdrawal(ctx, id, approve, note, actor)
	})
}

func (h *Handlers) setShare(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); !ok {
		return
	}
	chID, _, err := h.Channels.ChannelOwner(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		PlatformShareBP *int64 `json:"platform_share_bp"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := h.Money.SetShare(r.Context(), chID, in.PlatformShareBP); err != nil {
		httpjson.Fail(w, err)
		return
	}
	bp, override, err := h.Money.ShareOf(r.Context(), chID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"platform_share_bp": bp, "override": override})
}

// defaultShare answers the platform's default share (basis points) and
// whether an admin set it (else it is the --platform-share flag).
func (h *Handlers) defaultShare(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); !ok {
		return
	}
	bp, set, err := h.Money.ShareOf(r.Context(), 0)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"platform_share_bp": bp, "set_by_admin": set})
}

// setDefaultShare sets the default share for channels without their own;
// null returns to the start-up flag. Applies to gifts and memberships from
// now on (within 10 s on every node).
func (h *Handlers) setDefaultShare(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); !ok {
		return
	}
	var in struct {
		PlatformShareBP *int64 `json:"platform_share_bp"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := h.Money.SetShare(r.Context(), 0, in.PlatformShareBP); err != nil {
		httpjson.Fail(w, err)
		return
	}
	h.defaultShare(w, r)
}
