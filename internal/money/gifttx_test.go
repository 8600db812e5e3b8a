package money

import (
	"context"
	"database/sql"
	"errors"
	"testing"
)

// giftRequests prices n hearts from a sender the way SendGiftOrder does.
func giftRequests(t *testing.T, w *world, sender, channel int64, room string, keys ...string) []*giftReq {
	t.Helper()
	ctx := context.Background()
	g, err := w.s.catalogGift(ctx, "heart")
	if err != nil {
		t.Fatal(err)
	}
	acct := func(kind string, owner int64) int64 {
		id, err := w.s.account(ctx, kind, owner)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var out []*giftReq
	for _, k := range keys {
		out = append(out, &giftReq{senderID: sender, senderName: "s", channelID: channel, room: room, gift: g, count: 1, key: k,
			amount: g.Price, cut: g.Price * 3000 / 10000, sender: acct(KindUser, sender), channelAcct: acct(KindChannel, channel),
			platform: acct(KindPlatform, 0)})
	}
	return out
}

// TestGiftBodyChargesWhatEachSenderCanPay: the one transaction body of
// gifts, given a batch where one sender can pay for only some of their
// gifts, charges them gift by gift in order (each answer with the balance
// after it) and refuses the rest, while the others are charged at once;
// the ledger transaction, gift rows, medals and room events match what
// was charged, and a gift sent alone goes through the same body.
func TestGiftBodyChargesWhatEachSenderCanPay(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("body")
		short, rich := w.user("short", 25), w.user("rich", 100)
		reqs := append(giftRequests(t, w, short, ch, "body", "s1", "s2", "s3"), giftRequests(t, w, rich, ch, "body", "r1", "r2")...)
		var b giftBatch
		if err := w.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			b, err = w.s.writeGifts(ctx, tx, reqs, true)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			balance int64
			err     error
		}{{15, nil}, {5, nil}, {0, ErrInsufficientFunds}, {80, nil}, {80, nil}}
		ids := map[int64]bool{}
		for i, r := range reqs {
			res := b.results[r]
			if !errors.Is(res.err, want[i].err) || res.out.Balance != want[i].balance {
				t.Errorf("gift %s: %+v %v, want balance %d %v", r.key, res.out, res.err, want[i].balance, want[i].err)
			}
			if res.err == nil {
				if res.out.ID == 0 || ids[res.out.ID] || res.out.Amount != 10 {
					t.Errorf("gift %s: %+v", r.key, res.out)
				}
				ids[res.out.ID] = true
			}
		}
		if b.slow != 3 || len(b.events) != 4 {
			t.Fatalf("%d gifts charged one by one (want the short sender's 3), %d events (want 4)", b.slow, len(b.events))
		}
		if w.balance(short) != 5 || w.balance(rich) != 80 {
			t.Fatalf("balances %d, %d", w.balance(short), w.balance(rich))
		}
		var memo string
		var actor, entries, gifts int64
		w.db.QueryRowContext(ctx, `SELECT t.memo, t.actor_id, (SELECT COUNT(*) FROM ledger_entries e WHERE e.tx_id = t.id),
			(SELECT COUNT(*) FROM gifts g WHERE g.tx_id = t.id) FROM ledger_txs t WHERE t.kind = 'gift'`).Scan(&memo, &actor, &entries, &gifts)
		// Four debits, one appended credit for the channel and one for the platform.
		if memo != "4 gifts" || actor != 0 || entries != 6 || gifts != 4 {
			t.Fatalf("group transaction: %q by %d, %d entries, %d gifts", memo, actor, entries, gifts)
		}
		if m, _ := w.s.MedalOf(ctx, short, ch, "body"); m == nil || m.Intimacy != 20 {
			t.Fatalf("the short sender's medal: %+v", m)
		}

		// Alone, through the same body: described as itself, by its sender.
		one := giftRequests(t, w, rich, ch, "body", "r3")[0]
		g, err := w.s.sendGiftTx(ctx, one)
		if err != nil || g.Balance != 70 {
			t.Fatalf("a gift alone: %+v %v", g, err)
		}
		w.db.QueryRowContext(ctx, `SELECT t.memo, t.actor_id, (SELECT COUNT(*) FROM ledger_entries e WHERE e.tx_id = t.id)
			FROM ledger_txs t JOIN gifts g ON g.tx_id = t.id WHERE g.id = $1`, g.ID).Scan(&memo, &actor, &entries)
		if memo != "1×heart in body" || actor != rich || entries != 3 {
			t.Fatalf("single transaction: %q by %d, %d entries", memo, actor, entries)
		}
		// A sender who cannot pay is refused and leaves no trace.
		if _, err := w.s.sendGiftTx(ctx, giftRequests(t, w, short, ch, "body", "s4")[0]); !errors.Is(err, ErrInsufficientFunds) {
			t.Fatalf("overspend alone: %v", err)
		}
		var outbox int
		w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&outbox)
		if outbox != 5 || w.balance(short) != 5 {
			t.Fatalf("%d outbox rows (want 5), short sender's balance %d", outbox, w.balance(short))
		}
		w.noErrorsLogged()
		mustVerify(t, w.s)
	})
}
