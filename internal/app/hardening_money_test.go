package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// The money items of issue 10 over HTTP, on SQLite and PostgreSQL; each
// ends with a clean ledger verify.

// hmSetup makes a channel owned by a streamer, a fan with coins and an
// admin; it returns them.
func hmSetup(t *testing.T, n *testNode, slug string, coins int) (owner, fan, admin *browser) {
	t.Helper()
	owner = newUser(t, n, slug+"-owner", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": slug, "title": slug}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	fan = newUser(t, n, slug+"-fan", false)
	admin = n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if coins > 0 {
		if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": slug + "-fan", "coins": coins, "reason": "test"}); r.code != 200 {
			t.Fatalf("grant: %d %s", r.code, r.raw)
		}
	}
	return owner, fan, admin
}

// hmVerified asks the admin API for a clean ledger.
func hmVerified(t *testing.T, admin *browser) {
	t.Helper()
	if r := admin.do("GET", "/api/admin/ledger/verify", nil); r.code != 200 {
		t.Fatalf("ledger verify: %d %s", r.code, r.raw)
	}
}

func hmBalance(t *testing.T, b *browser) float64 {
	t.Helper()
	r := b.do("GET", "/api/wallet", nil)
	if r.code != 200 {
		t.Fatalf("wallet: %d %s", r.code, r.raw)
	}
	return r.body["balance"].(float64)
}

// hmToken makes a personal token with scopes and a client that uses it.
func hmToken(t *testing.T, n *testNode, owner *browser, scopes ...string) *browser {
	t.Helper()
	r := owner.do("POST", "/api/tokens", map[string]any{"name": strings.Join(scopes, "+"), "scopes": scopes})
	if r.code != 201 {
		t.Fatalf("token: %d %s", r.code, r.raw)
	}
	b := n.browser("127.0.0.1")
	b.bearer = r.str("token")
	return b
}

// TestHardening06MoneyScopes: spending coins needs wallet:spend (chat:write
// no longer does) and withdrawing needs channel:payout (channel:manage no
// longer does).
func TestHardening06MoneyScopes(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, fan, admin := hmSetup(t, n, "scoped", 5000)
		chat := hmToken(t, n, fan, "chat:write")
		spend := hmToken(t, n, fan, "wallet:spend")
		gift := func(b *browser, key string) reply {
			return b.do("POST", "/api/gifts", map[string]any{"room": "scoped", "gift": "rocket", "count": 1, "idempotency_key": key})
		}
		join := func(b *browser, key string) reply {
			return b.do("POST", "/api/channels/scoped/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": key})
		}
		if r := gift(chat, "c1"); r.code != 403 || !strings.Contains(r.str("error"), "wallet:spend") {
			t.Fatalf("gift with a chat:write token: %d %s", r.code, r.raw)
		}
		if r := join(chat, "c2"); r.code != 403 {
			t.Fatalf("membership with a chat:write token: %d %s", r.code, r.raw)
		}
		if r := chat.do("PUT", "/api/channels/scoped/membership", map[string]any{"auto_renew": true}); r.code != 403 {
			t.Fatalf("auto-renew with a chat:write token: %d %s", r.code, r.raw)
		}
		if hmBalance(t, fan) != 5000 {
			t.Fatal("the chat:write token spent coins")
		}
		if r := gift(spend, "s1"); r.code != 201 {
			t.Fatalf("gift with a wallet:spend token: %d %s", r.code, r.raw)
		}
		if r := join(spend, "s2"); r.code != 201 {
			t.Fatalf("membership with a wallet:spend token: %d %s", r.code, r.raw)
		}
		if r := spend.do("PUT", "/api/channels/scoped/membership", map[string]any{"auto_renew": true}); r.code != 200 || r.body["auto_renew"] != true {
			t.Fatalf("auto-renew with a wallet:spend token: %d %s", r.code, r.raw)
		}
		if r := gift(fan, "session"); r.code != 201 {
			t.Fatalf("gift from the session: %d %s", r.code, r.raw)
		}
		if r := gift(admin, "admin"); r.code != 403 {
			t.Fatalf("the admin token spending: %d %s", r.code, r.raw)
		}

		manage := hmToken(t, n, owner, "channel:manage")
		payout := hmToken(t, n, owner, "channel:payout")
		if r := manage.do("GET", "/api/channels/scoped/earnings", nil); r.code != 200 {
			t.Fatalf("earnings with channel:manage: %d %s", r.code, r.raw)
		}
		if r := manage.do("POST", "/api/channels/scoped/withdrawals", map[string]any{"amount": 100}); r.code != 403 || !strings.Contains(r.str("error"), "channel:payout") {
			t.Fatalf("withdrawal with a channel:manage token: %d %s", r.code, r.raw)
		}
		if r := payout.do("POST", "/api/channels/scoped/withdrawals", map[string]any{"amount": 100}); r.code != 201 {
			t.Fatalf("withdrawal with a channel:payout token: %d %s", r.code, r.raw)
		}
		if r := hmToken(t, n, fan, "channel:payout").do("POST", "/api/channels/scoped/withdrawals", map[string]any{"amount": 100}); r.code != 403 {
			t.Fatalf("someone else's payout token: %d %s", r.code, r.raw)
		}
		hmVerified(t, admin)
	})
}

// TestHardening11PriceChangedOverHTTP: a gift or membership bought at a
// price that is no longer the price is refused with 409 price_changed and
// the current price, charging nothing; a retry of a purchase that went
// through still answers 200 with it.
func TestHardening11PriceChangedOverHTTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, fan, admin := hmSetup(t, n, "prices", 10_000)
		gift := func(key string, price any) reply {
			body := map[string]any{"room": "prices", "gift": "heart", "count": 3, "idempotency_key": key}
			if price != nil {
				body["price"] = price
			}
			return fan.do("POST", "/api/gifts", body)
		}
		first := gift("h1", 10)
		if first.code != 201 || first.body["amount"] != float64(30) {
			t.Fatalf("gift at the shown price: %d %s", first.code, first.raw)
		}
		if r := admin.do("PUT", "/api/admin/gifts/heart", map[string]any{"name": "Heart", "price": 12, "tier": 1, "icon": "💖"}); r.code != 200 {
			t.Fatalf("reprice: %d %s", r.code, r.raw)
		}
		if r := gift("h2", 10); r.code != 409 || r.str("code") != "price_changed" || r.body["price"] != float64(12) {
			t.Fatalf("gift at the old price: %d %s", r.code, r.raw)
		}
		if hmBalance(t, fan) != 10_000-30 {
			t.Fatal("a refused gift charged")
		}
		if r := gift("h1", 10); r.code != 200 || r.body["duplicate"] != true || jsonNum(r.body["gift_id"]) != jsonNum(first.body["gift_id"]) {
			t.Fatalf("retry of the stored gift: %d %s", r.code, r.raw)
		}
		if r := gift("h3", 12); r.code != 201 || r.body["amount"] != float64(36) {
			t.Fatalf("gift at the new price: %d %s", r.code, r.raw)
		}
		if r := gift("h4", nil); r.code != 201 { // old clients send no price
			t.Fatalf("gift without a price: %d %s", r.code, r.raw)
		}
		if r := gift("h5", "ten"); r.code != 400 {
			t.Fatalf("a price that is not a number: %d %s", r.code, r.raw)
		}

		buy := func(key string, price int) reply {
			return fan.do("POST", "/api/channels/prices/membership", map[string]any{"tier": 1, "months": 2, "idempotency_key": key, "price": price})
		}
		setCaptain := func(price int) {
			t.Helper()
			if r := owner.do("PUT", "/api/channels/prices/membership-tiers", map[string]any{"tiers": []map[string]any{
				{"tier": 1, "name": "Captain", "monthly_price": price}, {"tier": 2, "name": "Admiral", "monthly_price": 1998}, {"tier": 3, "name": "Governor", "monthly_price": 19998},
			}}); r.code != 200 {
				t.Fatalf("tiers: %d %s", r.code, r.raw)
			}
		}
		setCaptain(250)
		before := hmBalance(t, fan)
		if r := buy("m1", 198); r.code != 409 || r.str("code") != "price_changed" || r.body["price"] != float64(250) {
			t.Fatalf("membership at the old price: %d %s", r.code, r.raw)
		}
		if hmBalance(t, fan) != before {
			t.Fatal("a refused membership charged")
		}
		joined := buy("m2", 250)
		if joined.code != 201 || joined.body["amount"] != float64(500) {
			t.Fatalf("membership at the shown price: %d %s", joined.code, joined.raw)
		}
		setCaptain(300)
		if r := buy("m2", 250); r.code != 200 || r.body["duplicate"] != true || jsonNum(r.body["purchase_id"]) != jsonNum(joined.body["purchase_id"]) {
			t.Fatalf("retry of the stored membership: %d %s", r.code, r.raw)
		}
		hmVerified(t, admin)
	})
}

// TestHardening12MoneyDisabledChannel: a disabled channel takes no gifts or
// memberships (403 channel_disabled), renews none, and cannot have renewal
// switched on; retries of what was bought before still answer, switching
// renewal off works, and the owner can still withdraw the earnings.
func TestHardening12MoneyDisabledChannel(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, fan, admin := hmSetup(t, n, "closing", 5000)
		g1 := fan.do("POST", "/api/gifts", map[string]any{"room": "closing", "gift": "rocket", "count": 1, "idempotency_key": "g1"})
		m1 := fan.do("POST", "/api/channels/closing/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m1", "auto_renew": true})
		if g1.code != 201 || m1.code != 201 {
			t.Fatalf("before: %d %s / %d %s", g1.code, g1.raw, m1.code, m1.raw)
		}
		if r := admin.do("POST", "/api/admin/channels/closing", map[string]any{"disabled": true}); r.code != 200 {
			t.Fatalf("disable: %d %s", r.code, r.raw)
		}
		disabled := func(what string, r reply) {
			t.Helper()
			if r.code != 403 || r.str("code") != "channel_disabled" {
				t.Fatalf("%s in a disabled channel: %d %s", what, r.code, r.raw)
			}
		}
		disabled("gift", fan.do("POST", "/api/gifts", map[string]any{"room": "closing", "gift": "heart", "count": 1, "idempotency_key": "g2"}))
		disabled("membership", fan.do("POST", "/api/channels/closing/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m2"}))
		disabled("upgrade", fan.do("POST", "/api/channels/closing/membership", map[string]any{"tier": 2, "months": 1, "idempotency_key": "m3", "price": 1998}))
		if r := fan.do("POST", "/api/gifts", map[string]any{"room": "closing", "gift": "rocket", "count": 1, "idempotency_key": "g1"}); r.code != 200 || r.body["duplicate"] != true {
			t.Fatalf("retry of a gift made before: %d %s", r.code, r.raw)
		}
		if r := fan.do("POST", "/api/channels/closing/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m1"}); r.code != 200 || r.body["duplicate"] != true {
			t.Fatalf("retry of a membership bought before: %d %s", r.code, r.raw)
		}
		// Due for renewal while disabled: nothing is charged.
		expires, _ := time.Parse(time.RFC3339Nano, m1.body["membership"].(map[string]any)["expires_at"].(string))
		if renewed, err := n.app.Money.RenewDue(context.Background(), expires.Add(-10*time.Minute)); err != nil || renewed != 0 {
			t.Fatalf("renewed %d in a disabled channel (%v)", renewed, err)
		}
		if hmBalance(t, fan) != 5000-1000-198 {
			t.Fatalf("balance %v", hmBalance(t, fan))
		}
		disabled("auto-renew on", fan.do("PUT", "/api/channels/closing/membership", map[string]any{"auto_renew": true}))
		if r := fan.do("PUT", "/api/channels/closing/membership", map[string]any{"auto_renew": false}); r.code != 200 || r.body["auto_renew"] != false {
			t.Fatalf("auto-renew off: %d %s", r.code, r.raw)
		}
		if r := owner.do("POST", "/api/channels/closing/withdrawals", map[string]any{"amount": 500}); r.code != 201 {
			t.Fatalf("withdrawal from a disabled channel: %d %s", r.code, r.raw)
		}
		hmVerified(t, admin)
	})
}

// TestHardening10RenewalNoticeInWallet: a price rise stops a member's
// renewal; GET /api/wallet carries the notice, the bus carries the event,
// switching renewal back on needs the new price, and the notice can be
// dismissed.
func TestHardening10RenewalNoticeInWallet(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, fan, admin := hmSetup(t, n, "notice", 1000)
		events := make(chan bus.Event, 4)
		stop, err := n.app.Bus.Tail(func(e bus.Event) { events <- e }, bus.MoneyNotice)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		m := fan.do("POST", "/api/channels/notice/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m1", "auto_renew": true, "price": 198})
		if m.code != 201 {
			t.Fatalf("join: %d %s", m.code, m.raw)
		}
		if r := owner.do("PUT", "/api/channels/notice/membership-tiers", map[string]any{"tiers": []map[string]any{
			{"tier": 1, "name": "Captain", "monthly_price": 250}, {"tier": 2, "name": "Admiral", "monthly_price": 1998}, {"tier": 3, "name": "Governor", "monthly_price": 19998},
		}}); r.code != 200 {
			t.Fatalf("tiers: %d %s", r.code, r.raw)
		}
		expires, _ := time.Parse(time.RFC3339Nano, m.body["membership"].(map[string]any)["expires_at"].(string))
		if renewed, err := n.app.Money.RenewDue(context.Background(), expires.Add(-10*time.Minute)); err != nil || renewed != 0 {
			t.Fatalf("renewed %d at a higher price (%v)", renewed, err)
		}
		w := fan.do("GET", "/api/wallet", nil)
		notices, _ := w.body["notices"].([]any)
		if w.body["balance"] != float64(802) || len(notices) != 1 {
			t.Fatalf("wallet: %s", w.raw)
		}
		note := notices[0].(map[string]any)
		if note["kind"] != "renewal_stopped" || note["channel"] != "notice" || note["agreed_price"] != float64(198) || note["price"] != float64(250) || note["tier_name"] != "Captain" {
			t.Fatalf("notice: %v", note)
		}
		select {
		case ev := <-events:
			var e map[string]any
			if json.Unmarshal(ev.Payload, &e) != nil || e["type"] != "membership.renewal_stopped" || e["price"] != float64(250) ||
				e["notice_id"] != jsonNum(note["id"]) || ev.UserID == 0 {
				t.Fatalf("notice event: %+v %s", ev, ev.Payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no money.notice event")
		}
		if r := fan.do("GET", "/api/channels/notice/fans", nil); !strings.Contains(r.raw, `"renewal_stopped":true`) || !strings.Contains(r.raw, `"auto_renew":false`) {
			t.Fatalf("fans: %s", r.raw)
		}
		if r := fan.do("PUT", "/api/channels/notice/membership", map[string]any{"auto_renew": true}); r.code != 409 || r.str("code") != "price_changed" || r.body["price"] != float64(250) {
			t.Fatalf("re-arming without the new price: %d %s", r.code, r.raw)
		}
		if r := fan.do("DELETE", "/api/wallet/notices/"+jsonNum(note["id"]), nil); r.code != 204 {
			t.Fatalf("dismiss: %d %s", r.code, r.raw)
		}
		if r := newUser(t, n, "nosy", false).do("DELETE", "/api/wallet/notices/"+jsonNum(note["id"]), nil); r.code != 404 {
			t.Fatalf("dismissing someone else's notice: %d %s", r.code, r.raw)
		}
		if r := fan.do("GET", "/api/wallet", nil); !strings.Contains(r.raw, `"notices":[]`) {
			t.Fatalf("wallet after dismissing: %s", r.raw)
		}
		if r := fan.do("PUT", "/api/channels/notice/membership", map[string]any{"auto_renew": true, "price": 250}); r.code != 200 || r.body["auto_renew"] != true || r.body["monthly_price"] != float64(250) {
			t.Fatalf("re-arming at the new price: %d %s", r.code, r.raw)
		}
		hmVerified(t, admin)
	})
}

// TestHardening14RetiredGiftRetryOverHTTP: a retry of a gift the platform
// has since retired answers 200 with the stored gift (a new key is 404),
// and the group-commit writer logs no error for replays (item 15).
func TestHardening14RetiredGiftRetryOverHTTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		_, fan, admin := hmSetup(t, n, "retired", 1000)
		if r := admin.do("POST", "/api/admin/gifts", map[string]any{"id": "comet", "name": "Comet", "price": 50, "tier": 2, "icon": "☄️"}); r.code != 201 {
			t.Fatalf("create gift: %d %s", r.code, r.raw)
		}
		send := func(key string) reply {
			return fan.do("POST", "/api/gifts", map[string]any{"room": "retired", "gift": "comet", "count": 1, "idempotency_key": key, "price": 50})
		}
		first := send("c1")
		if first.code != 201 {
			t.Fatalf("gift: %d %s", first.code, first.raw)
		}
		for range 3 {
			if r := send("c1"); r.code != 200 || r.body["duplicate"] != true {
				t.Fatalf("replay: %d %s", r.code, r.raw)
			}
		}
		if r := admin.do("DELETE", "/api/admin/gifts/comet", nil); r.code != 204 {
			t.Fatalf("retire: %d %s", r.code, r.raw)
		}
		if r := send("c1"); r.code != 200 || r.body["duplicate"] != true || jsonNum(r.body["gift_id"]) != jsonNum(first.body["gift_id"]) || r.body["balance"] != float64(950) {
			t.Fatalf("retry of a retired gift: %d %s", r.code, r.raw)
		}
		if r := send("c2"); r.code != 404 || r.str("code") != "gift_not_found" {
			t.Fatalf("new gift of a retired kind: %d %s", r.code, r.raw)
		}
		if logs := n.logs.String(); strings.Contains(logs, "level=ERROR") {
			t.Fatalf("errors logged:\n%s", logs)
		}
		hmVerified(t, admin)
	})
}

// TestHardening16RequestKeysOverHTTP: withdrawal requests and top-up
// orders take an idempotency_key: a retry answers 200 duplicate with the
// first, other content under the same key is 409 idempotency_key_reused,
// and concurrent copies create one.
func TestHardening16RequestKeysOverHTTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, fan, admin := hmSetup(t, n, "keyed", 5000)
		if r := fan.do("POST", "/api/gifts", map[string]any{"room": "keyed", "gift": "rocket", "count": 2, "idempotency_key": "g"}); r.code != 201 {
			t.Fatalf("gift: %d %s", r.code, r.raw)
		}
		for _, c := range []struct {
			who   *browser
			path  string
			body  func(key string) map[string]any
			other map[string]any
			list  string
		}{
			{fan, "/api/wallet/topups", func(k string) map[string]any { return map[string]any{"package": "coins-600", "idempotency_key": k} },
				map[string]any{"package": "coins-100"}, "topups"},
			{owner, "/api/channels/keyed/withdrawals", func(k string) map[string]any { return map[string]any{"amount": 300, "idempotency_key": k} },
				map[string]any{"amount": 400}, "withdrawals"},
		} {
			first := c.who.do("POST", c.path, c.body("k1"))
			if first.code != 201 || first.body["duplicate"] != false {
				t.Fatalf("%s: %d %s", c.path, first.code, first.raw)
			}
			again := c.who.do("POST", c.path, c.body("k1"))
			if again.code != 200 || again.body["duplicate"] != true || jsonNum(again.body["id"]) != jsonNum(first.body["id"]) {
				t.Fatalf("%s retried: %d %s", c.path, again.code, again.raw)
			}
			other := c.body("k1")
			for k, v := range c.other {
				other[k] = v
			}
			if r := c.who.do("POST", c.path, other); r.code != 409 || r.str("code") != "idempotency_key_reused" {
				t.Fatalf("%s with the key of another request: %d %s", c.path, r.code, r.raw)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ids := map[string]bool{}
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := c.who.do("POST", c.path, c.body("k2"))
					if r.code != 201 && r.code != 200 {
						t.Errorf("%s concurrent copy: %d %s", c.path, r.code, r.raw)
						return
					}
					mu.Lock()
					ids[jsonNum(r.body["id"])] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			list := c.who.do("GET", c.path, nil)
			if rows, _ := list.body[c.list].([]any); len(ids) != 1 || len(rows) != 2 {
				t.Fatalf("%s: %d answers, %d requests: %s", c.path, len(ids), len(rows), list.raw)
			}
		}
		if r := owner.do("GET", "/api/channels/keyed/earnings", nil); r.body["available"] != float64(1400-600) {
			t.Fatalf("earnings: %s", r.raw)
		}
		hmVerified(t, admin)
	})
}

// TestHardening17VerifyOverHTTPAndCLI: the admin API and `livehouse
// ledger verify` report a source row that no longer matches its ledger
// transaction, and are clean again once it does.
func TestHardening17VerifyOverHTTPAndCLI(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		_, fan, admin := hmSetup(t, n, "audited", 3000)
		if r := fan.do("POST", "/api/channels/audited/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m"}); r.code != 201 {
			t.Fatalf("join: %d %s", r.code, r.raw)
		}
		cli := func() (string, error) {
			var out, errOut bytes.Buffer
			err := ledgerCommand(context.Background(), []string{"verify", "--db", n.app.DB.Location}, &out, &errOut, func(string) string { return "" })
			return out.String() + errOut.String(), err
		}
		if out, err := cli(); err != nil || !strings.Contains(out, "matches its source rows") {
			t.Fatalf("clean ledger: %v\n%s", err, out)
		}
		ctx := context.Background()
		for _, q := range []string{`UPDATE grants SET coins = coins + 500`, `UPDATE membership_purchases SET amount = 1`} {
			if _, err := n.app.DB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		r := admin.do("GET", "/api/admin/ledger/verify", nil)
		if r.code != 409 || !strings.Contains(r.raw, "grant transaction") || !strings.Contains(r.raw, "membership transaction") {
			t.Fatalf("verify over HTTP: %d %s", r.code, r.raw)
		}
		if out, err := cli(); err == nil || !strings.Contains(out, "grant transaction") || !strings.Contains(out, "membership transaction") {
			t.Fatalf("CLI on a tampered ledger: %v\n%s", err, out)
		}
		for _, q := range []string{`UPDATE grants SET coins = coins - 500`, `UPDATE membership_purchases SET amount = 198`} {
			if _, err := n.app.DB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		hmVerified(t, admin)
	})
}

// TestHardening20MoneyNamesOverHTTP: gift names (platform and channel
// catalogs), tier names and medal names lose bidi overrides and
// invisible characters; control characters are refused with a code.
func TestHardening20MoneyNamesOverHTTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner, _, admin := hmSetup(t, n, "tidy", 0)
		if r := admin.do("POST", "/api/admin/gifts", map[string]any{"id": "mirror", "name": "\u202eevil\u202c gift", "price": 5, "tier": 1, "icon": "🪞"}); r.code != 201 || r.str("name") != "evil gift" {
			t.Fatalf("platform gift: %d %s", r.code, r.raw)
		}
		if r := admin.do("POST", "/api/admin/gifts", map[string]any{"id": "bell", "name": "ring\u0007", "price": 5, "tier": 1, "icon": "🔔"}); r.code != 400 || r.str("code") != "control_chars" {
			t.Fatalf("control character: %d %s", r.code, r.raw)
		}
		if r := owner.do("POST", "/api/channels/tidy/gifts", map[string]any{"id": "tidy-pin", "name": "pi\u2066n\u2069", "price": 5, "tier": 1, "icon": "📌"}); r.code != 201 || r.str("name") != "pin" {
			t.Fatalf("channel gift: %d %s", r.code, r.raw)
		}
		r := owner.do("PUT", "/api/channels/tidy/membership-tiers", map[string]any{"tiers": []map[string]any{
			{"tier": 1, "name": "\u202eFan", "monthly_price": 10}, {"tier": 2, "name": "Friend\u200b", "monthly_price": 20}, {"tier": 3, "name": "Family", "monthly_price": 30},
		}})
		if r.code != 200 || !strings.Contains(r.raw, `"name":"Fan"`) || !strings.Contains(r.raw, `"name":"Friend"`) {
			t.Fatalf("tiers: %d %s", r.code, r.raw)
		}
		if r := owner.do("PUT", "/api/channels/tidy/medal", map[string]any{"name": "\u202dTD\u202c"}); r.code != 200 || r.str("name") != "TD" {
			t.Fatalf("medal: %d %s", r.code, r.raw)
		}
		hmVerified(t, admin)
	})
}
