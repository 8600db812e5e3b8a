package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/trust"
)

// Handlers serves the wallet, the gift catalog and gifts.
type Handlers struct {
	Money *Service
	Trust *trust.Service
	Relay *Relay
	// WebhookSecret signs payment webhooks; empty disables them.
	WebhookSecret []byte
}

// Register adds the money routes.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/wallet", h.wallet)
	mux.HandleFunc("GET /api/gifts/catalog", h.catalog)
	mux.HandleFunc("POST /api/gifts", h.sendGift)
	mux.HandleFunc("GET /api/channels/{slug}/earnings", h.earnings)
	mux.HandleFunc("POST /api/admin/wallets/grant", h.grant)
	mux.HandleFunc("GET /api/admin/ledger/verify", h.verify)
	mux.HandleFunc("GET /api/wallet/packages", h.packages)
	mux.HandleFunc("POST /api/payments/webhook", h.webhook)
}

func (h *Handlers) packages(w http.ResponseWriter, r *http.Request) {
	p, err := h.Money.Packages(r.Context())
	if err != nil {
		h.fail(w, err)
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "body must be {\"provider_tx\",\"username\",\"package\"}")
		return
	}
	u, err := h.Trust.Users.ByName(r.Context(), in.Username)
	if err != nil {
		h.fail(w, err)
		return
	}
	bal, dup, err := h.Money.ConfirmPayment(r.Context(), "webhook", in.ProviderTx, u.ID, in.Package)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"credited": !dup, "duplicate": dup, "balance": bal})
}

func (h *Handlers) fail(w http.ResponseWriter, err error) {
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": ie.Msg, "code": "invalid"})
	case errors.Is(err, ErrInsufficientFunds):
		httpjson.Write(w, http.StatusPaymentRequired, map[string]string{"error": "your balance is too low for this gift; nothing was charged", "code": "insufficient_funds"})
	case errors.Is(err, ErrNoGift):
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": err.Error(), "code": "gift_not_found"})
	case errors.Is(err, ErrKeyReused):
		httpjson.Write(w, http.StatusConflict, map[string]string{"error": err.Error(), "code": "idempotency_key_reused"})
	default:
		h.Trust.WriteError(w, err)
	}
}

func (h *Handlers) wallet(w http.ResponseWriter, r *http.Request) {
	p, err := h.Trust.Authorize(r, trust.ActAccountRead, 0, 0)
	if err == nil && p.User == nil {
		err = &trust.Denied{Reason: "the admin token has no wallet"}
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	bal, moves, err := h.Money.Wallet(r.Context(), p.User.ID, 50)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"balance": bal, "movements": moves})
}

func (h *Handlers) catalog(w http.ResponseWriter, r *http.Request) {
	gifts, err := h.Money.Catalog(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"gifts": gifts})
}

func (h *Handlers) sendGift(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Room           string `json:"room"`
		Gift           string `json:"gift"`
		Count          int    `json:"count"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "code": "bad_request"})
		return
	}
	chID, owner, err := h.Trust.Channels.ChannelOwner(r.Context(), in.Room)
	if err != nil {
		h.fail(w, err)
		return
	}
	// Gifting is an interaction like chat: banned viewers cannot, tokens need chat:write.
	p, err := h.Trust.Authorize(r, trust.ActFollow, chID, owner)
	if err != nil {
		h.fail(w, err)
		return
	}
	if p.User == nil {
		h.fail(w, &trust.Denied{Reason: "the admin token cannot send gifts"})
		return
	}
	g, err := h.Money.SendGift(r.Context(), p.User.ID, p.User.Username, chID, in.Room, in.Gift, in.Count, strings.TrimSpace(in.IdempotencyKey))
	if err != nil {
		h.fail(w, err)
		return
	}
	code := http.StatusCreated
	if g.Duplicate {
		code = http.StatusOK
	}
	httpjson.Write(w, code, g)
}

func (h *Handlers) earnings(w http.ResponseWriter, r *http.Request) {
	chID, owner, err := h.Trust.Channels.ChannelOwner(r.Context(), r.PathValue("slug"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if _, err := h.Trust.Authorize(r, trust.ActChannelManage, chID, owner); err != nil {
		h.fail(w, err)
		return
	}
	e, err := h.Money.Earnings(r.Context(), chID)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"earnings": e})
}

func (h *Handlers) grant(w http.ResponseWriter, r *http.Request) {
	p, err := h.Trust.Authorize(r, trust.ActPlatformAdmin, 0, 0)
	if err != nil {
		h.fail(w, err)
		return
	}
	var in struct {
		Username string `json:"username"`
		Coins    int64  `json:"coins"`
		Reason   string `json:"reason"`
	}
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "code": "bad_request"})
		return
	}
	u, err := h.Trust.Users.ByName(r.Context(), in.Username)
	if err != nil {
		h.fail(w, err)
		return
	}
	bal, err := h.Money.Grant(r.Context(), u.ID, in.Coins, in.Reason, p.UserID())
	if err != nil {
		h.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"username": u.Username, "balance": bal})
}

func (h *Handlers) verify(w http.ResponseWriter, r *http.Request) {
	if _, err := h.Trust.Authorize(r, trust.ActPlatformAdmin, 0, 0); err != nil {
		h.fail(w, err)
		return
	}
	rep, err := h.Money.Verify(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	code := http.StatusOK
	if len(rep.Problems) > 0 {
		code = http.StatusConflict
	}
	httpjson.Write(w, code, rep)
}
