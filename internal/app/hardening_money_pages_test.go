package app

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChromiumMoneyPrices: the pages side of items 10 and 11, in English
// and in Chinese (e2e/money_prices.mjs): the wallet and the watch page tell
// a member a price rise stopped their renewal; a gift and a membership
// repriced after the page loaded charge nothing and say the new price;
// buying at the new price re-arms the renewal and clears the notice.
func TestChromiumMoneyPrices(t *testing.T) {
	node, chromium := needPlaywright(t)
	for _, c := range []struct {
		lang string
		want []string
	}{
		{"en", []string{
			"NOTICE Your Captain membership of prices did not renew: its price went up from 198 to 250 coins a month",
			"RENEWAL_NOTE Automatic renewal stopped: Captain went up from 198 to 250 coins a month.", "ticked=true",
			"GIFT_PRICE_CHANGED Heart now costs 12 coins; nothing was charged.", "balance 4802 -> 4802 | button 💖 Heart · 12",
			"GIFT_SENT balance=4790",
			"MEMBER_PRICE_CHANGED Captain now costs 300 coins a month; nothing was charged.", "button Renew Captain · 300/month",
			"REARMED Captain, renews on", "balance=4490",
			"NOTICES_AFTER 0 hidden=true",
		}},
		{"zh-CN", []string{
			"NOTICE 你在 prices 的舰长未能续费：价格从每月 198 金币涨到 250 金币",
			"RENEWAL_NOTE 自动续费已停止：舰长从每月 198 金币涨到 250 金币。", "ticked=true",
			"GIFT_PRICE_CHANGED 小心心现价 12 金币，未扣款。", "balance 4802 -> 4802 | button 💖 小心心 · 12",
			"GIFT_SENT balance=4790",
			"MEMBER_PRICE_CHANGED 舰长现价每月 300 金币，未扣款。", "button 续费舰长 · 300/月",
			"REARMED 舰长，将于", "balance=4490",
			"NOTICES_AFTER 0 hidden=true",
		}},
	} {
		t.Run(c.lang, func(t *testing.T) {
			n := startNode(t, "")
			n.createChannel("prices")
			fan := newUser(t, n, "patron", false)
			admin := n.browser("127.0.0.1")
			admin.bearer = testAdminToken
			if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "patron", "coins": 5000, "reason": "test"}); r.code != 200 {
				t.Fatalf("grant: %d %s", r.code, r.raw)
			}
			m := fan.do("POST", "/api/channels/prices/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m", "auto_renew": true, "price": 198})
			if m.code != 201 {
				t.Fatalf("join: %d %s", m.code, m.raw)
			}
			if r := admin.do("PUT", "/api/channels/prices/membership-tiers", map[string]any{"tiers": []map[string]any{
				{"tier": 1, "name": "Captain", "monthly_price": 250}, {"tier": 2, "name": "Admiral", "monthly_price": 1998}, {"tier": 3, "name": "Governor", "monthly_price": 19998},
			}}); r.code != 200 {
				t.Fatalf("tiers: %d %s", r.code, r.raw)
			}
			expires, _ := time.Parse(time.RFC3339Nano, m.body["membership"].(map[string]any)["expires_at"].(string))
			if renewed, err := n.app.Money.RenewDue(context.Background(), expires.Add(-10*time.Minute)); err != nil || renewed != 0 {
				t.Fatalf("renewed %d (%v)", renewed, err)
			}
			base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
			runBrowser(t, node, chromium, "money_prices.mjs", []string{base, "prices", "patron", testAdminToken, c.lang, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, c.want...)
			hmVerified(t, admin)
		})
	}
}

// TestChromiumGiftCountAndConfirm: issue 13 item 4 through the pages
// (e2e/gifting.mjs) in English and Chinese, at 1280x800 and 375x812: the
// count picker charges count × price, totals above the threshold ask first
// (Cancel and Esc charge nothing), the combo button repeats the gift, and
// the wallet names gifts, channels and yuan prices. The server's balance
// and the ledger check agree.
func TestChromiumGiftCountAndConfirm(t *testing.T) {
	node, chromium := needPlaywright(t)
	for _, c := range []struct {
		lang string
		want []string
	}{
		{"en", []string{
			"1280x800 LABEL 💖 Heart ×66 · 660 | TOTAL Heart ×66 = 660 coins",
			"1280x800 SENT66 spent=660 dialog=false", "375x812 SENT66 spent=660 dialog=false",
			"1280x800 COMBO Again: 💖 Heart ×66 · combo ×2 spent=660", "375x812 COMBO Again: 💖 Heart ×66 · combo ×2 spent=660",
			"CONFIRM Send 🚀 Rocket ×10 for 10,000 coins?", "focus=gift-confirm-cancel",
			"1280x800 CANCELLED spent=0 status=Not sent; nothing was charged.", "375x812 CANCELLED spent=0",
			"COUNT_BAD The count must be a whole number from 1 to 9999. invalid=true", "COUNT_BAD_BIG The count must be",
			"TOO_DEAR Castle ×9999 costs 99,990,000 coins", "dialog=false spent=0",
			"1280x800 RETRY spent=100 requests=2", "375x812 RETRY spent=100 requests=2",
			"1280x800 CONFIRMED spent=2000", "375x812 CONFIRMED spent=2000", "STORED never",
			"WALLET Rocket ×2 · to gifts | Heart ×10 · to gifts | Heart ×66 · to gifts",
			"PACKAGE 600 coins · ¥6.00",
		}},
		{"zh-CN", []string{
			"1280x800 LABEL 💖 小心心 ×66 · 660 | TOTAL 小心心 ×66 = 660 金币",
			"1280x800 SENT66 spent=660 dialog=false", "375x812 SENT66 spent=660 dialog=false",
			"COMBO 再送：💖 小心心 ×66 · 连击 ×2 spent=660",
			"CONFIRM 花 10,000 金币赠送 🚀 火箭 ×10？", "focus=gift-confirm-cancel",
			"1280x800 CANCELLED spent=0 status=未赠送，未扣款。", "375x812 CANCELLED spent=0",
			"COUNT_BAD 数量须为 1 到 9999 的整数。 invalid=true",
			"TOO_DEAR 城堡 ×9999 需要 99,990,000 金币", "dialog=false spent=0",
			"1280x800 RETRY spent=100 requests=2", "375x812 RETRY spent=100 requests=2",
			"1280x800 CONFIRMED spent=2000", "375x812 CONFIRMED spent=2000", "STORED never",
			"WALLET 火箭 ×2 · 送给 gifts | 小心心 ×10 · 送给 gifts | 小心心 ×66 · 送给 gifts",
			"PACKAGE 600 金币 · ¥6.00",
		}},
	} {
		t.Run(c.lang, func(t *testing.T) {
			n := startNode(t, "")
			n.createChannel("gifts")
			fan := newUser(t, n, "giver", false)
			admin := n.browser("127.0.0.1")
			admin.bearer = testAdminToken
			if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "giver", "coins": 20000, "reason": "test"}); r.code != 200 {
				t.Fatalf("grant: %d %s", r.code, r.raw)
			}
			base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
			runBrowser(t, node, chromium, "gifting.mjs", []string{base, "gifts", "giver", c.lang, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, c.want...)
			// Per size: 66 + 66 + 10 hearts (10 each) and 2 rockets (1,000 each).
			if got, want := hmBalance(t, fan), float64(20000-2*((66+66+10)*10+2*1000)); got != want {
				t.Errorf("balance %v, want %v", got, want)
			}
			hmVerified(t, admin)
		})
	}
}
