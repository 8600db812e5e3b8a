package money

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Authorizer says who is asking and whether they may (the account domain).
type Authorizer interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
}

// UserDirectory finds accounts (the account domain's users).
type UserDirectory interface {
	ByName(ctx context.Context, name string) (policy.User, error)
	Get(ctx context.Context, id int64) (policy.User, error)
}

// ChannelDirectory resolves channels (the channel domain).
type ChannelDirectory interface {
	ChannelOwner(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	// OpenChannel is ChannelOwner for spending: a disabled channel answers
	// policy.ErrChannelDisabled.
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	ChannelSlug(ctx context.Context, channelID int64) (string, error)
}

// Handlers serves the wallet, the gift catalog and gifts.
type Handlers struct {
	Money    *Service
	Auth     Authorizer
	Users    UserDirectory
	Channels ChannelDirectory
	Relay    *Relay
	// WebhookSecret signs payment webhooks; empty disables them.
	WebhookSecret []byte
}

// Register adds the money routes.
func (h *Handlers) Register(mux *http.ServeMux) {
	// Wallet and coins in.
	mux.HandleFunc("GET /api/wallet", h.wallet)
	mux.HandleFunc("DELETE /api/wallet/notices/{id}", h.dismissNotice)
	mux.HandleFunc("GET /api/wallet/packages", h.packages)
	mux.HandleFunc("GET /api/wallet/topups", h.myTopups)
	mux.HandleFunc("POST /api/wallet/topups", h.requestTopup)
	mux.HandleFunc("POST /api/payments/webhook", h.webhook)
	// Gifts.
	mux.HandleFunc("GET /api/gifts/catalog", h.catalog)
	mux.HandleFunc("POST /api/gifts", h.sendGift)
	mux.HandleFunc("GET /api/channels/{slug}/gifts", h.channelGifts)
	mux.HandleFunc("POST /api/channels/{slug}/gifts", h.createChannelGift)
	mux.HandleFunc("PUT /api/channels/{slug}/gifts/{id}", h.updateChannelGift)
	mux.HandleFunc("DELETE /api/channels/{slug}/gifts/{id}", h.retireChannelGift)
	// Memberships and fan medals.
	mux.HandleFunc("GET /api/channels/{slug}/fans", h.fans)
	mux.HandleFunc("POST /api/channels/{slug}/membership", h.buyMembership)
	mux.HandleFunc("PUT /api/channels/{slug}/membership", h.setAutoRenew)
	mux.HandleFunc("PUT /api/channels/{slug}/membership-tiers", h.setTiers)
	mux.HandleFunc("PUT /api/channels/{slug}/medal", h.setMedal)
	// Earnings out.
	mux.HandleFunc("GET /api/channels/{slug}/earnings", h.earnings)
	mux.HandleFunc("GET /api/channels/{slug}/withdrawals", h.channelWithdrawals)
	mux.HandleFunc("POST /api/channels/{slug}/withdrawals", h.requestWithdrawal)
	mux.HandleFunc("GET /api/channels/{slug}/statement.csv", h.statement)
	// Platform admin.
	mux.HandleFunc("POST /api/admin/wallets/grant", h.grant)
	mux.HandleFunc("GET /api/admin/ledger/verify", h.verify)
	mux.HandleFunc("GET /api/admin/gifts", h.adminGifts)
	mux.HandleFunc("POST /api/admin/gifts", h.adminCreateGift)
	mux.HandleFunc("PUT /api/admin/gifts/{id}", h.adminUpdateGift)
	mux.HandleFunc("DELETE /api/admin/gifts/{id}", h.adminRetireGift)
	mux.HandleFunc("PUT /api/admin/channels/{slug}/platform-share", h.setShare)
	mux.HandleFunc("GET /api/admin/platform-share", h.defaultShare)
	mux.HandleFunc("PUT /api/admin/platform-share", h.setDefaultShare)
	mux.HandleFunc("GET /api/admin/topups", h.adminTopups)
	mux.HandleFunc("POST /api/admin/topups/{id}/{decision}", h.decideTopup)
	mux.HandleFunc("GET /api/admin/withdrawals", h.adminWithdrawals)
	mux.HandleFunc("POST /api/admin/withdrawals/{id}/{decision}", h.decideWithdrawal)
}

func (h *Handlers) packages(w http.ResponseWriter, r *http.Request) {
	p, err := h.Money.Packages(r.Context())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"packages": p})
}

// webhook is called by the payment service when a payment succeeds:
// X-Livehouse-Timestamp (Unix seconds) and X-Livehouse-Signature =
// hex(HMAC-SHA256(secret, timestamp "." body)); body
// {"provider_tx","username","package"}. Delivering it again is harmless.
func (h *Handlers) webhook(w http.ResponseWriter, r *http.Request) {
	if len(h.WebhookSecret) == 0 {
		httpjson.Error(w, http.StatusServiceUnavailable, "webhook payments are not configured (--payment-webhook-secret)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpjson.MaxBody))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "request body is too large")
		return
	}
	if err := VerifyWebhook(h.WebhookSecret, r.Header.Get("X-Livehouse-Timestamp"), r.Header.Get("X-Livehouse-Signature"), body, time.Now()); err != nil {
		httpjson.Error(w, http.StatusUnauthorized, err.Error())
		return
	}
	var in struct {
		ProviderTx string `json:"provider_tx"`
		Username   string `json:"username"`
		Package    string `json:"package"`
	}
	if err := httpjson.DecodeBytes(body, &in); err != nil {
		httpjson.BadBody(w, err)
		return
	}
	u, err := h.Users.ByName(r.Context(), in.Username)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	bal, dup, err := h.Money.ConfirmPayment(r.Context(), "webhook", in.ProviderTx, u.ID, in.Package)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"credited": !dup, "duplicate": dup, "balance": bal})
}

// fail answers err: a refusal with its status and code (errors.go), any
// other error as the trust domain answers it (denials, unknown channels,
// and 500 for failures).
// user authorizes a for the signed-in account (the admin token has no
// wallet, memberships or gifts of its own).
func (h *Handlers) user(w http.ResponseWriter, r *http.Request, a policy.Action, chID, owner int64) (*policy.User, bool) {
	p, err := h.Auth.Authorize(r, a, chID, owner)
	if err == nil && p.User == nil {
		err = &policy.Denied{Reason: "the admin token has no account of its own; use a user's session or token"}
	}
	if err != nil {
		httpjson.Fail(w, err)
		return nil, false
	}
	return p.User, true
}

// channel resolves {slug} and authorizes a on it.
func (h *Handlers) channel(w http.ResponseWriter, r *http.Request, a policy.Action) (chID int64, p policy.Principal, ok bool) {
	chID, owner, err := h.Channels.ChannelOwner(r.Context(), r.PathValue("slug"))
	if err == nil {
		p, err = h.Auth.Authorize(r, a, chID, owner)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return 0, p, false
	}
	return chID, p, true
}

// admin authorizes a platform admin.
func (h *Handlers) admin(w http.ResponseWriter, r *http.Request) (policy.Principal, bool) {
	p, err := h.Auth.Authorize(r, policy.ActPlatformAdmin, 0, 0)
	if err != nil {
		httpjson.Fail(w, err)
		return p, false
	}
	return p, true
}

// pathID reads a positive integer path value.
func (h *Handlers) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpjson.Fail(w, ErrNoRequest)
		return 0, false
	}
	return id, true
}

// decision reads {decision}: approve or reject.
func (h *Handlers) decision(w http.ResponseWriter, r *http.Request) (approve, ok bool) {
	switch r.PathValue("decision") {
	case "approve":
		return true, true
	case "reject":
		return false, true
	}
	httpjson.Error(w, http.StatusNotFound, "decision must be approve or reject")
	return false, false
}

func (h *Handlers) wallet(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r, policy.ActAccountRead, 0, 0)
	if !ok {
		return
	}
	bal, moves, err := h.Money.Wallet(r.Context(), u.ID, 50)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	notices, err := h.Money.Notices(r.Context(), u.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"balance": bal, "movements": moves, "notices": notices})
}

// dismissNotice answers DELETE /api/wallet/notices/{id}.
func (h *Handlers) dismissNotice(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r, policy.ActAccountRead, 0, 0)
	if !ok {
		return
	}
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	if err := h.Money.DismissNotice(r.Context(), u.ID, id); err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// spender resolves a channel for spending coins in it (gifts,
// memberships): it authorizes wallet.spend (tokens need the wallet:spend
// scope; channel bans apply). A disabled channel is not refused here but
// returned as refused, so a retry of a purchase made before it was
// disabled still gets its answer.
func (h *Handlers) spender(w http.ResponseWriter, r *http.Request, slug string) (chID int64, u *policy.User, refused error, ok bool) {
	chID, owner, err := h.Channels.OpenChannel(r.Context(), slug)
	if errors.Is(err, policy.ErrChannelDisabled) {
		refused, err = err, nil
	}
	if err != nil {
		httpjson.Fail(w, err)
		return 0, nil, nil, false
	}
	u, ok = h.user(w, r, policy.ActSpend, chID, owner)
	return chID, u, refused, ok
}

// catalog lists the gifts on sale (?room=SLUG adds that channel's own);
// for a signed-in viewer it says which trial gifts they may still send.
func (h *Handlers) catalog(w http.ResponseWriter, r *http.Request) {
	var chID int64
	if slug := r.URL.Query().Get("room"); slug != "" {
		var err error
		if chID, _, err = h.Channels.ChannelOwner(r.Context(), slug); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	gifts, err := h.Money.Catalog(r.Context(), chID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := map[string]any{"gifts": gifts}
	if u := policy.PrincipalFrom(r.Context()).User; u != nil {
		used, eligible, err := h.Money.TrialsUsed(r.Context(), u.ID)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		avail := []string{}
		for _, g := range gifts {
			if g.Trial && eligible && !used[g.ID] {
				avail = append(avail, g.ID)
			}
		}
		out["trials_available"] = avail
	}
	httpjson.Write(w, http.StatusOK, out)
}

// sendGift answers POST /api/gifts {"room","gift","count","idempotency_key"
// [,"price"]}: price, if given, is the unit price the viewer was shown.
func (h *Handlers) sendGift(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Room           string `json:"room"`
		Gift           string `json:"gift"`
		Count          int    `json:"count"`
		IdempotencyKey string `json:"idempotency_key"`
		Price          *int64 `json:"price"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	chID, u, refused, ok := h.spender(w, r, in.Room)
	if !ok {
		return
	}
	g, err := h.Money.SendGiftOrder(r.Context(), GiftOrder{SenderID: u.ID, SenderName: u.Username, ChannelID: chID, Room: in.Room,
		Gift: in.Gift, Count: in.Count, Key: strings.TrimSpace(in.IdempotencyKey), Price: in.Price, Refused: refused})
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	code := http.StatusCreated
	if g.Duplicate {
		code = http.StatusOK
	}
	httpjson.Write(w, code, g)
}

func (h *Handlers) grant(w http.ResponseWriter, r *http.Request) {
	p, ok := h.admin(w, r)
	if !ok {
		return
	}
	var in struct {
		Username string `json:"username"`
		Coins    int64  `json:"coins"`
		Reason   string `json:"reason"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	u, err := h.Users.ByName(r.Context(), in.Username)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	bal, err := h.Money.Grant(r.Context(), u.ID, in.Coins, in.Reason, p.UserID())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"username": u.Username, "balance": bal})
}

func (h *Handlers) verify(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.admin(w, r); !ok {
		return
	}
	rep, err := h.Money.Verify(r.Context())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if len(rep.Problems) > 0 {
		httpjson.Write(w, http.StatusConflict, map[string]any{
			"error": fmt.Sprintf("the ledger has %d problems", len(rep.Problems)), "code": "ledger_inconsistent",
			"accounts": rep.Accounts, "transactions": rep.Transactions, "sources": rep.Sources, "problems": rep.Problems})
		return
	}
	httpjson.Write(w, http.StatusOK, rep)
}
