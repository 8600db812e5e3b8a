package money

import (
	"errors"
	"fmt"
	"net/http"
)

// Refusal is the money domain's one error type for a request it will not
// carry out (as opposed to a failure): it carries the HTTP status and the
// code the API answers with. Every refusal is declared here; the two
// shapes with fields of their own (InputError, PriceChangedError) answer
// through answer as well.
type Refusal struct {
	Status int    // the HTTP status the API answers
	Code   string // the answer's "code", which clients switch on
	Msg    string // Error()
	// Answer is the answer's "error" when it says more than Msg.
	Answer string
}

func (r *Refusal) Error() string { return r.Msg }

func refusal(status int, code, msg string) error {
	return &Refusal{Status: status, Code: code, Msg: msg}
}

// Refusals callers may test for with errors.Is.
var (
	ErrInsufficientFunds = error(&Refusal{Status: http.StatusPaymentRequired, Code: "insufficient_funds", Msg: "insufficient balance",
		Answer: "your balance is too low for this; nothing was charged"})
	ErrKeyReused = refusal(http.StatusConflict, "idempotency_key_reused", "idempotency key already used for a different request")

	// The catalog.
	ErrNoGift        = refusal(http.StatusNotFound, "gift_not_found", "no such gift")
	ErrGiftNotOnSale = refusal(http.StatusConflict, "gift_not_on_sale", "this gift is not on sale now")
	ErrTrialUsed     = refusal(http.StatusConflict, "trial_used", "you have already sent this trial gift")
	ErrTrialNotYet   = refusal(http.StatusForbidden, "trial_not_eligible", "trial gifts are for viewers who have topped up at least once")
	ErrGiftExists    = refusal(http.StatusConflict, "gift_exists", "a gift with this id already exists")

	// Memberships.
	ErrNoMembership = refusal(http.StatusNotFound, "no_membership", "you have no membership in this channel")
	ErrHigherTier   = refusal(http.StatusConflict, "higher_tier_active",
		"you already hold a higher membership tier in this channel; it must run out before a lower one can be bought")

	// Withdrawals and top-up orders, and their review.
	ErrNotPending     = refusal(http.StatusConflict, "already_decided", "this request was already decided")
	ErrNoRequest      = refusal(http.StatusNotFound, "not_found", "no such request")
	ErrLowEarnings    = refusal(http.StatusConflict, "low_earnings", "the channel's earnings are lower than the amount asked for")
	ErrTooManyPending = refusal(http.StatusTooManyRequests, "too_many_pending",
		"too many requests waiting for review; wait for an admin to decide them")
)

// InputError explains refused input (400); Code defaults to "invalid".
type InputError struct {
	Msg  string
	Code string
}

func (e *InputError) Error() string { return e.Msg }

// PriceChangedError refuses a purchase whose price the buyer was shown is
// no longer the price (409 price_changed with the current price).
type PriceChangedError struct {
	What  string // "gift" or "membership"
	Price int64  // the current unit or monthly price
}

func (e *PriceChangedError) Error() string {
	return fmt.Sprintf("the %s's price changed to %d coins; nothing was charged", e.What, e.Price)
}

// answer is how the API answers a refusal: its status and JSON body, or
// ok false when err is not a refusal of this domain.
func answer(err error) (status int, body map[string]any, ok bool) {
	var ie *InputError
	var pc *PriceChangedError
	var r *Refusal
	switch {
	case errors.As(err, &ie):
		code := ie.Code
		if code == "" {
			code = "invalid"
		}
		return http.StatusBadRequest, map[string]any{"error": ie.Msg, "code": code}, true
	case errors.As(err, &pc):
		return http.StatusConflict, map[string]any{"error": pc.Error(), "code": "price_changed", "price": pc.Price}, true
	case errors.As(err, &r):
		msg := r.Msg
		if r.Answer != "" {
			msg = r.Answer
		}
		return r.Status, map[string]any{"error": msg, "code": r.Code}, true
	}
	return 0, nil, false
}
