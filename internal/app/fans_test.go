package app

import (
	"encoding/csv"
	"strings"
	"testing"
)

// TestFansOverHTTP walks the money features a channel's supporters and its
// owner use, through the HTTP API on both engines: a top-up order approved
// by an admin, members-only and medal-only chat with badges on danmaku,
// the channel's earnings, a withdrawal reviewed by an admin, the CSV
// statement, a custom gift and the platform share override.
func TestFansOverHTTP(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		owner := newUser(t, n, "hostess", true)
		if r := owner.do("POST", "/api/channels", map[string]any{"slug": "club", "title": "Club"}); r.code != 201 {
			t.Fatalf("create channel: %d %s", r.code, r.raw)
		}
		fan := newUser(t, n, "superfan", false)
		other := newUser(t, n, "passerby", false)
		admin := n.browser("127.0.0.1")
		admin.bearer = testAdminToken

		// Coins in: the fan orders a package, an admin confirms it once.
		order := fan.do("POST", "/api/wallet/topups", map[string]any{"package": "coins-3000"})
		if order.code != 201 || order.body["status"] != "pending" {
			t.Fatalf("top-up order: %d %s", order.code, order.raw)
		}
		id := jsonNum(order.body["id"])
		if r := fan.do("POST", "/api/admin/topups/"+id+"/approve", nil); r.code != 403 {
			t.Fatalf("a viewer approving their own top-up: %d", r.code)
		}
		if r := admin.do("GET", "/api/admin/topups", nil); r.code != 200 || !strings.Contains(r.raw, `"username":"superfan"`) {
			t.Fatalf("review queue: %d %s", r.code, r.raw)
		}
		if r := admin.do("POST", "/api/admin/topups/"+id+"/approve", nil); r.code != 200 || r.body["status"] != "approved" {
			t.Fatalf("approve: %d %s", r.code, r.raw)
		}
		if r := admin.do("POST", "/api/admin/topups/"+id+"/approve", nil); r.code != 409 || r.str("code") != "already_decided" {
			t.Fatalf("approve twice: %d %s", r.code, r.raw)
		}
		if r := fan.do("GET", "/api/wallet", nil); r.body["balance"] != float64(3000) {
			t.Fatalf("wallet after top-up: %s", r.raw)
		}

		// Members-only chat: the fan joins, the passer-by cannot speak.
		if r := owner.do("PUT", "/api/channels/club/rules", map[string]any{"members_only": true, "max_length": 200}); r.code != 200 {
			t.Fatalf("rules: %d %s", r.code, r.raw)
		}
		say := func(b *browser, text string) reply {
			return b.do("POST", "/api/rooms/club/danmaku", map[string]string{"text": text})
		}
		if r := say(fan, "hello"); r.code != 403 || r.str("code") != "members_only" {
			t.Fatalf("non-member in members-only chat: %d %s", r.code, r.raw)
		}
		buy := fan.do("POST", "/api/channels/club/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "join-1"})
		if buy.code != 201 || buy.body["balance"] != float64(3000-198) {
			t.Fatalf("join: %d %s", buy.code, buy.raw)
		}
		if r := fan.do("POST", "/api/channels/club/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "join-1"}); r.code != 200 || r.body["duplicate"] != true {
			t.Fatalf("join retried: %d %s", r.code, r.raw)
		}
		msg := say(fan, "hello members")
		fanBadge, _ := msg.body["fan"].(map[string]any)
		if msg.code != 201 || fanBadge["member_tier"] != float64(1) || fanBadge["medal"] != "CLUB" || fanBadge["medal_level"] != float64(2) {
			t.Fatalf("member's danmaku: %d %s", msg.code, msg.raw)
		}
		if r := say(other, "let me in"); r.code != 403 || r.str("code") != "members_only" {
			t.Fatalf("passer-by: %d %s", r.code, r.raw)
		}
		// History keeps the badge the message was sent with.
		if r := other.do("GET", "/api/rooms/club/danmaku", nil); !strings.Contains(r.raw, `"member_tier":1`) {
			t.Fatalf("history lost the badge: %s", r.raw)
		}

		// Medal-only at level 3: the fan (198 intimacy, level 2) needs 400.
		if r := owner.do("PUT", "/api/channels/club/rules", map[string]any{"medal_only": true, "medal_min_level": 3, "max_length": 200}); r.code != 200 {
			t.Fatalf("rules: %d %s", r.code, r.raw)
		}
		if r := say(fan, "level two"); r.code != 403 || r.str("code") != "medal_only" {
			t.Fatalf("level-2 medal in a level-3 room: %d %s", r.code, r.raw)
		}
		if r := fan.do("POST", "/api/gifts", map[string]any{"room": "club", "gift": "cake", "count": 2, "idempotency_key": "cake-1"}); r.code != 201 {
			t.Fatalf("gift: %d %s", r.code, r.raw)
		}
		if r := say(fan, "level three now"); r.code != 201 {
			t.Fatalf("level-3 medal refused: %d %s", r.code, r.raw)
		}
		fans := fan.do("GET", "/api/channels/club/fans", nil)
		if medal, _ := fans.body["medal"].(map[string]any); medal["level"] != float64(3) || medal["intimacy"] != float64(598) {
			t.Fatalf("fans: %s", fans.raw)
		}

		// Earnings: 198 + 400 less the default 30 % share, rounded down for
		// the platform (59 of 198, 120 of 400).
		earned := owner.do("GET", "/api/channels/club/earnings", nil)
		if earned.code != 200 || earned.body["available"] != float64(139+280) || earned.body["today"] != float64(419) {
			t.Fatalf("earnings: %d %s", earned.code, earned.raw)
		}
		if r := other.do("GET", "/api/channels/club/earnings", nil); r.code != 403 {
			t.Fatalf("someone else's earnings: %d", r.code)
		}
		if r := owner.do("POST", "/api/channels/club/withdrawals", map[string]any{"amount": 500}); r.code != 409 || r.str("code") != "low_earnings" {
			t.Fatalf("withdraw more than earned: %d %s", r.code, r.raw)
		}
		wd := owner.do("POST", "/api/channels/club/withdrawals", map[string]any{"amount": 200})
		if wd.code != 201 {
			t.Fatalf("withdraw: %d %s", wd.code, wd.raw)
		}
		if r := admin.do("GET", "/api/admin/withdrawals", nil); !strings.Contains(r.raw, `"channel":"club"`) {
			t.Fatalf("withdrawal queue: %s", r.raw)
		}
		if r := admin.do("POST", "/api/admin/withdrawals/"+jsonNum(wd.body["id"])+"/approve", map[string]any{"note": "paid by bank transfer"}); r.code != 200 || r.body["status"] != "approved" {
			t.Fatalf("approve withdrawal: %d %s", r.code, r.raw)
		}
		if r := owner.do("GET", "/api/channels/club/earnings", nil); r.body["available"] != float64(219) || r.body["paid_out"] != float64(200) {
			t.Fatalf("earnings after payout: %s", r.raw)
		}
		st := owner.do("GET", "/api/channels/club/statement.csv", nil)
		rows, err := csv.NewReader(strings.NewReader(st.raw)).ReadAll()
		if st.code != 200 || err != nil || len(rows) != 5 || rows[4][2] != "withdrawal" || rows[4][5] != "219" {
			t.Fatalf("statement: %d %v\n%s", st.code, err, st.raw)
		}
		if r := owner.do("GET", "/api/channels/club/statement.csv?from=yesterday", nil); r.code != 400 {
			t.Fatalf("bad date: %d", r.code)
		}

		// A custom gift and a 10 % platform share for this channel.
		if r := owner.do("POST", "/api/channels/club/gifts", map[string]any{"id": "club-pin", "name": "Club pin", "price": 100, "tier": 2, "icon": "📌"}); r.code != 201 {
			t.Fatalf("custom gift: %d %s", r.code, r.raw)
		}
		if r := other.do("POST", "/api/channels/club/gifts", map[string]any{"id": "x-pin", "name": "X", "price": 1, "tier": 1, "icon": "x"}); r.code != 403 {
			t.Fatalf("a viewer adding gifts: %d", r.code)
		}
		if r := admin.do("PUT", "/api/admin/channels/club/platform-share", map[string]any{"platform_share_bp": 1000}); r.code != 200 || r.body["override"] != true {
			t.Fatalf("share override: %d %s", r.code, r.raw)
		}
		if r := fan.do("GET", "/api/gifts/catalog?room=club", nil); !strings.Contains(r.raw, `"club-pin"`) {
			t.Fatalf("catalog of the room lacks its gift: %s", r.raw)
		}
		if r := fan.do("POST", "/api/gifts", map[string]any{"room": "club", "gift": "club-pin", "count": 1, "idempotency_key": "pin-1"}); r.code != 201 {
			t.Fatalf("custom gift sent: %d %s", r.code, r.raw)
		}
		if r := owner.do("GET", "/api/channels/club/earnings", nil); r.body["available"] != float64(219+90) {
			t.Fatalf("earnings with a 10 %% share: %s", r.raw)
		}
		if r := admin.do("GET", "/api/admin/ledger/verify", nil); r.code != 200 {
			t.Fatalf("verify: %d %s", r.code, r.raw)
		}
	})
}
