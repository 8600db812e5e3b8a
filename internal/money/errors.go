package money

import (
	"fmt"
	"net/http"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Refusal is the money domain's error for a request it will not carry out
// (as opposed to a failure): it carries the HTTP status and the code the
// API answers with. Every refusal is declared here. It, and the two shapes
// with fields of their own (InputError, PriceChangedError), convert
// themselves into the platform's one error answer, httpjson.Problem.
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

// As answers a refusal over HTTP (httpjson.Fail): its status, code and
// message, the one error type every handler writes.
func (r *Refusal) As(target any) bool {
	p, ok := target.(**httpjson.Problem)
	if ok {
		msg := r.Msg
		if r.Answer != "" {
			msg = r.Answer
		}
		*p = httpjson.NewProblem(r.Status, r.Code, msg)
	}
	return ok
}

// As answers refused input: 400 with its code, "invalid" without one.
func (e *InputError) As(target any) bool {
	p, ok := target.(**httpjson.Problem)
	if ok {
		code := e.Code
		if code == "" {
			code = "invalid"
		}
		*p = httpjson.NewProblem(http.StatusBadRequest, code, e.Msg)
	}
	return ok
}

// As answers 409 price_changed with the current price.
func (e *PriceChangedError) As(target any) bool {
	p, ok := target.(**httpjson.Problem)
	if ok {
		*p = &httpjson.Problem{Status: http.StatusConflict, Code: "price_changed", Message: e.Error(), Extra: map[string]any{"price": e.Price}}
	}
	return ok
}
