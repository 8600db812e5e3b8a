package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func TestGiftsOverHTTP(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("stage")
	fan := newUser(t, n, "bigfan", false)
	owner := newUser(t, n, "stageowner", true)
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken

	if r := fan.do("GET", "/api/wallet", nil); r.code != 200 || r.body["balance"] != float64(0) {
		t.Fatalf("new wallet: %d %s", r.code, r.raw)
	}
	if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "bigfan", "coins": 1500, "reason": "top-up test"}); r.code != 200 {
		t.Fatalf("grant: %d %s", r.code, r.raw)
	}
	if r := fan.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "bigfan", "coins": 1, "reason": "self"}); r.code != 403 {
		t.Fatalf("a viewer granting coins: %d", r.code)
	}
	cat := n.browser("127.0.0.1").do("GET", "/api/gifts/catalog", nil)
	if cat.code != 200 || len(cat.body["gifts"].([]any)) < 4 {
		t.Fatalf("catalog: %s", cat.raw)
	}

	watcher := n.dialWS(nil)
	watcher.write(map[string]any{"type": "join", "room": "stage"})
	watcher.expect("joined")

	send := func(gift string, key string) reply {
		return fan.do("POST", "/api/gifts", map[string]any{"room": "stage", "gift": gift, "count": 1, "idempotency_key": key})
	}
	r := send("rocket", "gift-1")
	committed := time.Now()
	if r.code != 201 || r.body["balance"] != float64(500) {
		t.Fatalf("gift: %d %s", r.code, r.raw)
	}
	giftID := jsonNum(r.body["gift_id"])
	// The room sees it, once, soon after the commit.
	var seenAt time.Time
	deadline := time.After(5 * time.Second)
	for seenAt.IsZero() {
		select {
		case f := <-watcher.frames:
			if f["type"] == "batch" {
				for _, e := range f["events"].([]any) {
					if ev := e.(map[string]any); ev["type"] == "gift" && ev["gift_id"] == giftID && ev["sender"] == "bigfan" && ev["name"] == "Rocket" {
						seenAt = time.Now()
					}
				}
			}
		case <-deadline:
			t.Fatal("the room never saw the gift")
		}
	}
	t.Logf("gift reached a viewer %v after its commit was acknowledged", seenAt.Sub(committed).Round(time.Millisecond))
	if seenAt.Sub(committed) > time.Second {
		t.Errorf("gift took %v to reach the room", seenAt.Sub(committed))
	}

	// A viewer joining later (or coming back) catches up on the gift.
	late := n.dialWS(nil)
	late.write(map[string]any{"type": "join", "room": "stage"})
	joined := late.expect("joined")
	var caught bool
	for _, e := range joined["gifts"].([]any) {
		if ev := e.(map[string]any); ev["gift_id"] == giftID && ev["type"] == "gift" {
			caught = true
		}
	}
	if !caught {
		t.Fatalf("a joining viewer did not get the recent gift: %v", joined["gifts"])
	}

	if r := send("rocket", "gift-1"); r.code != 200 || r.body["duplicate"] != true || jsonNum(r.body["gift_id"]) != giftID || r.body["balance"] != float64(500) {
		t.Fatalf("same key again: %d %s", r.code, r.raw)
	}
	if r := send("heart", "gift-1"); r.code != 409 || r.str("code") != "idempotency_key_reused" {
		t.Fatalf("key reused for another gift: %d %s", r.code, r.raw)
	}
	if r := send("rocket", "gift-2"); r.code != 402 || r.str("code") != "insufficient_funds" {
		t.Fatalf("overspend: %d %s", r.code, r.raw)
	}
	if r := fan.do("GET", "/api/wallet", nil); r.body["balance"] != float64(500) {
		t.Fatalf("balance after refused gift: %s", r.raw)
	}
	if r := n.browser("127.0.0.1").do("POST", "/api/gifts", map[string]any{"room": "stage", "gift": "heart", "count": 1, "idempotency_key": "x"}); r.code != 401 {
		t.Fatalf("anonymous gift: %d", r.code)
	}
	// Earnings: the channel's owner (here the platform made the channel, so
	// only an admin) sees 70 % of 1000.
	if r := owner.do("GET", "/api/channels/stage/earnings", nil); r.code != 403 {
		t.Fatalf("someone else's earnings: %d", r.code)
	}
	if r := admin.do("GET", "/api/channels/stage/earnings", nil); r.body["earnings"] != float64(700) {
		t.Fatalf("earnings: %s", r.raw)
	}
	if r := admin.do("GET", "/api/admin/ledger/verify", nil); r.code != 200 {
		t.Fatalf("verify: %d %s", r.code, r.raw)
	}
}

// TestGiftStormSurvivesSIGKILL: the server is killed in the middle of a
// gift storm; after a restart every acknowledged gift exists exactly once,
// nobody was charged for a gift that does not exist, and the ledger verifies.
func TestGiftStormSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "livehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dbURL := "sqlite:" + filepath.Join(t.TempDir(), "crash.db")
			if engine == "postgres" {
				dbURL = storetest.NewPostgresSchema(t)
			}
			giftStormCrash(t, bin, dbURL)
		})
	}
}

func giftStormCrash(t *testing.T, bin, dbURL string) {
	hp := freePort(t)
	base := "http://127.0.0.1:" + hp
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--http", "127.0.0.1:"+hp, "--rtmp", "127.0.0.1:"+freePort(t), "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "", "--db", dbURL,
			"--admin-token", testAdminToken, "--demo-channel=false", "--data", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "server up", func() bool {
			res, err := http.Get(base + "/healthz")
			if err == nil {
				res.Body.Close()
			}
			return err == nil && res.StatusCode == 200
		})
		return cmd
	}
	cmd := start()
	n := &testNode{t: t, http: base}
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/channels", map[string]any{"slug": "storm", "title": "Storm"}); r.code != 201 {
		t.Fatalf("channel: %d", r.code)
	}
	const senders = 20
	sessions := make([]*browser, senders)
	for i := range sessions {
		name := fmt.Sprintf("storm%d", i)
		if out, err := exec.Command(bin, "user", "create", name, "--password", name+"-password", "--db", dbURL).CombinedOutput(); err != nil {
			t.Fatalf("user: %v %s", err, out)
		}
		if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": name, "coins": 100000, "reason": "storm"}); r.code != 200 {
			t.Fatalf("grant: %d %s", r.code, r.raw)
		}
		sessions[i] = n.browser(fmt.Sprintf("127.0.2.%d", i+1))
		sessions[i].login(name, name+"-password")
	}

	// The storm: each sender gifts as fast as it can; acknowledged ids are kept.
	var mu sync.Mutex
	acked := map[string]int64{} // gift id -> amount
	ackedBySender := make([]int64, senders)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := b.client
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				body, _ := json.Marshal(map[string]any{"room": "storm", "gift": "heart", "count": 1, "idempotency_key": fmt.Sprintf("s%d-%d", i, k)})
				req, _ := http.NewRequest("POST", base+"/api/gifts", bytes.NewReader(body))
				req.Header.Set("Cookie", "lh_session="+b.session)
				req.Header.Set("X-CSRF-Token", b.csrf)
				res, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				data, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == 201 {
					var g struct {
						ID     int64 `json:"gift_id"`
						Amount int64 `json:"amount"`
					}
					if json.Unmarshal(data, &g) == nil {
						mu.Lock()
						acked[fmt.Sprint(g.ID)] = g.Amount
						ackedBySender[i] += g.Amount
						mu.Unlock()
					}
				} else if res.StatusCode == 429 {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// Kill mid-storm: once a few dozen gifts are acknowledged (a fixed
	// sleep gave a busy machine too few), at least 1.5 s in.
	time.Sleep(1500 * time.Millisecond)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	t.Logf("%d gifts acknowledged before SIGKILL", len(acked))
	if len(acked) < 20 {
		t.Fatalf("only %d gifts before the kill; the storm did not happen", len(acked))
	}
	mu.Unlock()

	// Restart: the ledger is whole, and the acknowledged gifts are all there, once.
	cmd = start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	out, err := exec.Command(bin, "ledger", "verify", "--db", dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("ledger verify after the crash: %v\n%s", err, out)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id := range acked {
		var count int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM gifts WHERE id = $1`, id).Scan(&count); err != nil || count != 1 {
			t.Fatalf("acknowledged gift %s stored %d times (%v)", id, count, err)
		}
	}
	// Every sender's balance is exactly what its stored gifts cost (some
	// unacknowledged ones may have committed just before the kill: they are
	// real gifts, charged once).
	for i := 0; i < senders; i++ {
		var spent, balance int64
		err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(g.amount), 0), a.balance FROM ledger_accounts a
			LEFT JOIN gifts g ON g.sender_id = a.owner_id WHERE a.kind = 'user' AND a.owner_id =
			(SELECT owner_id FROM ledger_accounts la JOIN users u ON u.id = la.owner_id AND la.kind = 'user' WHERE u.username = $1)
			GROUP BY a.balance`, fmt.Sprintf("storm%d", i)).Scan(&spent, &balance)
		if err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
		if spent+balance != 100000 {
			t.Errorf("sender %d: spent %d + balance %d != 100000 granted", i, spent, balance)
		}
		if spent < ackedBySender[i] {
			t.Errorf("sender %d: stored gifts cost %d, acknowledged %d", i, spent, ackedBySender[i])
		}
	}
}

func TestPaymentWebhook(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	n := startNode(t, "", withWebhookSecret(secret))
	fan := newUser(t, n, "payer", false)
	post := func(body string, ts string, sig string) reply {
		b := n.browser("127.0.0.1")
		b.headers["X-Livehouse-Timestamp"] = ts
		b.headers["X-Livehouse-Signature"] = sig
		var v any
		_ = json.Unmarshal([]byte(body), &v)
		return b.do("POST", "/api/payments/webhook", v)
	}
	body := `{"package":"coins-600","provider_tx":"pay-1","username":"payer"}`
	now := fmt.Sprint(time.Now().Unix())
	sign := func(ts, b string) string { return money.SignWebhook([]byte(secret), ts, []byte(b)) }

	if r := post(body, now, sign(now, body)); r.code != 200 || r.body["credited"] != true || r.body["balance"] != float64(600) {
		t.Fatalf("valid webhook: %d %s", r.code, r.raw)
	}
	// The provider retries: credited once.
	if r := post(body, now, sign(now, body)); r.code != 200 || r.body["duplicate"] != true || r.body["balance"] != float64(600) {
		t.Fatalf("second delivery: %d %s", r.code, r.raw)
	}
	old := fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())
	tampered := `{"package":"coins-10000","provider_tx":"pay-2","username":"payer"}`
	for name, c := range map[string][3]string{
		"bad signature": {body, now, sign(now, body)[:10] + "00" + sign(now, body)[12:]},
		"tampered body": {tampered, now, sign(now, body)},
		"stale replay":  {`{"package":"coins-600","provider_tx":"pay-3","username":"payer"}`, old, sign(old, `{"package":"coins-600","provider_tx":"pay-3","username":"payer"}`)},
		"no signature":  {body, now, ""},
	} {
		if r := post(c[0], c[1], c[2]); r.code != 401 {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
	unknown := `{"package":"coins-1","provider_tx":"pay-4","username":"payer"}`
	if r := post(unknown, now, sign(now, unknown)); r.code != 400 {
		t.Errorf("unknown package: %d", r.code)
	}
	if r := fan.do("GET", "/api/wallet", nil); r.body["balance"] != float64(600) {
		t.Fatalf("balance after the refused deliveries: %s", r.raw)
	}
	if r := fan.do("GET", "/api/wallet/packages", nil); r.code != 200 || !strings.Contains(r.raw, "coins-600") {
		t.Fatalf("packages: %s", r.raw)
	}
}

func withWebhookSecret(s string) Option { return func(o *options) { o.webhookSecret = s } }
