package money

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// TestRefusalsAnswerAsBefore: every refusal answers with the status, code
// and message the API has always answered with (clients switch on them),
// also when wrapped; other errors are not the money domain's to answer.
func TestRefusalsAnswerAsBefore(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		body   string
	}{
		{&InputError{Msg: "months must be 1 to 12"}, 400, `{"code":"invalid","error":"months must be 1 to 12"}`},
		{&InputError{Msg: "x is not valid UTF-8", Code: "bad_encoding"}, 400, `{"code":"bad_encoding","error":"x is not valid UTF-8"}`},
		{&PriceChangedError{What: "gift", Price: 8}, 409, `{"code":"price_changed","error":"the gift's price changed to 8 coins; nothing was charged","price":8}`},
		{ErrInsufficientFunds, 402, `{"code":"insufficient_funds","error":"your balance is too low for this; nothing was charged"}`},
		{ErrLowEarnings, 409, `{"code":"low_earnings","error":"the channel's earnings are lower than the amount asked for"}`},
		{ErrNoGift, 404, `{"code":"gift_not_found","error":"no such gift"}`},
		{ErrGiftNotOnSale, 409, `{"code":"gift_not_on_sale","error":"this gift is not on sale now"}`},
		{ErrTrialUsed, 409, `{"code":"trial_used","error":"you have already sent this trial gift"}`},
		{ErrTrialNotYet, 403, `{"code":"trial_not_eligible","error":"trial gifts are for viewers who have topped up at least once"}`},
		{ErrGiftExists, 409, `{"code":"gift_exists","error":"a gift with this id already exists"}`},
		{ErrKeyReused, 409, `{"code":"idempotency_key_reused","error":"idempotency key already used for a different request"}`},
		{ErrHigherTier, 409, `{"code":"higher_tier_active","error":"you already hold a higher membership tier in this channel; it must run out before a lower one can be bought"}`},
		{ErrNoMembership, 404, `{"code":"no_membership","error":"you have no membership in this channel"}`},
		{ErrNotPending, 409, `{"code":"already_decided","error":"this request was already decided"}`},
		{ErrNoRequest, 404, `{"code":"not_found","error":"no such request"}`},
		{ErrTooManyPending, 429, `{"code":"too_many_pending","error":"too many requests waiting for review; wait for an admin to decide them"}`},
		{fmt.Errorf("grant: %w", ErrKeyReused), 409, `{"code":"idempotency_key_reused","error":"idempotency key already used for a different request"}`},
	} {
		rec := httptest.NewRecorder()
		httpjson.Fail(rec, c.err)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != c.status || got != c.body {
			t.Errorf("%v: %d %s, want %d %s", c.err, rec.Code, got, c.status, c.body)
		}
	}
	for _, err := range []error{errors.New("disk full"), ErrRenewalStopped} {
		rec := httptest.NewRecorder()
		httpjson.Fail(rec, err)
		if rec.Code != 500 {
			t.Errorf("%v answered %d, want a 500 (not a refusal)", err, rec.Code)
		}
	}
	// What logs and wrapped errors say is unchanged too.
	if ErrInsufficientFunds.Error() != "insufficient balance" {
		t.Fatal(ErrInsufficientFunds)
	}
}
