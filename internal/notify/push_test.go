package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/notify/pushtest"
	"github.com/livehouse/livehouse/internal/social"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// fixture is a database with a streamer's channel and a follower.
type fixture struct {
	db       *store.DB
	svc      *Service
	follower int64
	channel  channel.Channel
}

func newFixture(t *testing.T, db *store.DB) fixture {
	ctx := context.Background()
	users, err := account.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, name := range []string{"streamer_one", "fan_one"} {
		u, err := users.Create(ctx, account.NewUser{Username: name, Password: name + "-password"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	slug, title := "bandroom", "Band room jam"
	ch, _, err := channel.NewService(db).Create(ctx, channel.Input{Slug: &slug, Title: &title}, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := social.NewStore(db).Follow(ctx, ids[1], ch.ID); err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, Deps{DB: db, AllowHTTP: true, VAPID: VAPID{Subject: "mailto:ops@example.org"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return fixture{db: db, svc: svc, follower: ids[1], channel: ch}
}

func migrations() []store.MigrationSet {
	return []store.MigrationSet{account.Migrations(), social.Migrations(), channel.Migrations(), Migrations()}
}

// TestWentLivePushesEncryptedSignedMessage: a follower's browser gets the
// "went live" push at its (local) push service, encrypted so only it can
// read it and signed with the stored VAPID key; the bell gets one row; the
// same session, and a reconnect soon after, announce nothing more; a push
// service answering 410 makes the subscription go.
func TestWentLivePushesEncryptedSignedMessage(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		ep := pushtest.NewEndpoint(t)
		browser := pushtest.NewBrowserKeys(t)
		sub := Subscription{UserID: f.follower, Endpoint: ep.Srv.URL + "/push/abc123", P256dh: browser.P256dh(), Auth: browser.AuthKey()}
		if err := f.svc.store.Subscribe(ctx, sub, MaxSubscriptions); err != nil {
			t.Fatal(err)
		}

		f.svc.WentLive(f.channel.ID, f.channel.Slug, 41)
		var p pushtest.Pushed
		select {
		case p = <-ep.Got:
		case <-time.After(20 * time.Second):
			t.Fatal("no push reached the local push endpoint")
		}
		if ce := p.Header.Get("Content-Encoding"); ce != "aes128gcm" {
			t.Fatalf("Content-Encoding %q", ce)
		}
		if p.Header.Get("TTL") == "" {
			t.Fatal("no TTL header")
		}
		pushtest.CheckVAPID(t, p.Header.Get("Authorization"), f.svc.vapid.Public, ep.Srv.URL, "mailto:ops@example.org")
		plain, err := browser.Decrypt(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(plain, &got); err != nil {
			t.Fatalf("payload %q: %v", plain, err)
		}
		want := map[string]any{"kind": "live", "channel": "bandroom", "title": "Band room jam", "url": "/c/bandroom"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("payload %v, want %v", got, want)
		}
		// Stored once, shared: a second service on the same database reads the same keys.
		again, err := New(ctx, Deps{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		again.Close(ctx)
		if again.vapid.Public != f.svc.vapid.Public || again.vapid.Private != f.svc.vapid.Private {
			t.Fatal("a second node generated other VAPID keys")
		}

		items, unread, err := f.svc.store.List(ctx, f.follower, 0, 10)
		if err != nil || len(items) != 1 || unread != 1 || items[0].Kind != KindLive || items[0].Channel != "bandroom" {
			t.Fatalf("bell after going live: %+v unread %d %v", items, unread, err)
		}

		// The same session again (another node, a retry) and a reconnect
		// within the cool-down: nothing new.
		if err := f.svc.wentLive(ctx, f.channel.ID, f.channel.Slug, 41); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.store.Ended(ctx, f.channel.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.wentLive(ctx, f.channel.ID, f.channel.Slug, 42); err != nil {
			t.Fatal(err)
		}
		if _, unread, _ := f.svc.store.List(ctx, f.follower, 0, 10); unread != 1 {
			t.Fatalf("a repeated or flapping session made more notifications: unread %d", unread)
		}

		// Much later the push service says the browser is gone.
		f.svc.cooldown = time.Millisecond
		time.Sleep(5 * time.Millisecond)
		ep.Status.Store(http.StatusGone)
		if err := f.svc.wentLive(ctx, f.channel.ID, f.channel.Slug, 43); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ep.Got:
		case <-time.After(20 * time.Second):
			t.Fatal("no second push")
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			subs, err := f.svc.store.UserSubscriptions(ctx, f.follower)
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a subscription answered 410 was not deleted")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, unread, _ := f.svc.store.List(ctx, f.follower, 0, 10); unread != 2 {
			t.Fatalf("a new session after the cool-down: unread %d, want 2", unread)
		}
		select {
		case extra := <-ep.Got:
			t.Fatalf("an extra push arrived: %v", extra.Header)
		default:
		}
	}, migrations()...)
}

// TestChatNoticeConcurrent: many goroutines calling ChatNotice at once
// (the room's hook) make one row per user, message and kind.
func TestChatNoticeConcurrent(t *testing.T) {
	db := storetest.Open(t, store.SQLite, migrations()...)
	f := newFixture(t, db)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kind := KindMention
			if i%2 == 1 {
				kind = KindReply
			}
			f.svc.ChatNotice(context.Background(), f.follower, kind, "bandroom", "streamer_one", int64(100+i%4), "hey @fan_one 你好")
		}()
	}
	f.svc.ChatNotice(context.Background(), f.follower, "bogus", "bandroom", "x", 1, "ignored")
	f.svc.ChatNotice(context.Background(), 0, KindMention, "bandroom", "x", 1, "ignored")
	wg.Wait()
	// Messages 100 and 102 are mentions, 101 and 103 replies: four rows.
	deadline := time.Now().Add(20 * time.Second)
	for {
		items, unread, err := f.svc.store.List(context.Background(), f.follower, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if unread == 4 && len(items) == 4 {
			var p chatPayload
			if err := json.Unmarshal(items[0].Payload, &p); err != nil || p.From != "streamer_one" || p.Excerpt != "hey @fan_one 你好" {
				t.Fatalf("payload %s: %v", items[0].Payload, err)
			}
			break
		}
		if unread > 4 || time.Now().After(deadline) {
			t.Fatalf("chat notices: %d rows, %d unread, want 4", len(items), unread)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n, err := f.svc.store.MarkRead(context.Background(), f.follower, nil, 0)
	if err != nil || n != 4 {
		t.Fatalf("mark all read: %d %v", n, err)
	}
}

// TestCheckSubscription: endpoints must be https unless allowed, keys real.
func TestCheckSubscription(t *testing.T) {
	k := pushtest.NewBrowserKeys(t)
	in := subscriptionInput{Endpoint: "https://push.example.net/send/abc", Keys: keysArg{P256dh: k.P256dh(), Auth: k.AuthKey()}}
	if err := checkSubscription(in, false); err != nil {
		t.Fatalf("good subscription refused: %v", err)
	}
	for _, c := range []struct {
		mutate    func(*subscriptionInput)
		allowHTTP bool
		code      string
	}{
		{func(s *subscriptionInput) { s.Endpoint = "http://push.example.net/x" }, false, CodePushEndpointInsecure},
		{func(s *subscriptionInput) { s.Endpoint = "ftp://push.example.net/x" }, true, CodePushSubscriptionBad},
		{func(s *subscriptionInput) { s.Endpoint = "https://user:pw@push.example.net/x" }, false, CodePushSubscriptionBad},
		{func(s *subscriptionInput) { s.Endpoint = "/relative" }, false, CodePushSubscriptionBad},
		{func(s *subscriptionInput) { s.Keys.Auth = "c2hvcnQ" }, false, CodePushSubscriptionBad},
		{func(s *subscriptionInput) { s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(make([]byte, 65)) }, false, CodePushSubscriptionBad},
	} {
		s := in
		c.mutate(&s)
		err := checkSubscription(s, c.allowHTTP)
		bad, ok := err.(*badSubscription)
		if !ok || bad.code != c.code {
			t.Errorf("%+v: got %v, want code %s", s, err, c.code)
		}
	}
	in.Endpoint = "http://127.0.0.1:9/push"
	if err := checkSubscription(in, true); err != nil {
		t.Fatalf("http endpoint refused although allowed: %v", err)
	}
}

// FuzzCheckSubscription: any input is accepted or refused with a code,
// never a panic, and what is accepted is a well-formed https endpoint.
func FuzzCheckSubscription(f *testing.F) {
	f.Add("https://push.example.net/a", "BAAA", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("http://[::1]:80/%zz", "", "")
	f.Fuzz(func(t *testing.T, endpoint, p256dh, auth string) {
		err := checkSubscription(subscriptionInput{Endpoint: endpoint, Keys: keysArg{P256dh: p256dh, Auth: auth}}, false)
		if err == nil {
			if len(endpoint) < 8 || !strings.EqualFold(endpoint[:8], "https://") {
				t.Fatalf("accepted %q", endpoint)
			}
			return
		}
		if _, ok := err.(*badSubscription); !ok {
			t.Fatalf("refusal without a code: %v", err)
		}
	})
}

// TestPushClientStaysOffPrivateNetworks: outside LAN mode the push client
// does not connect to loopback (an endpoint is a URL a browser gave us).
func TestPushClientStaysOffPrivateNetworks(t *testing.T) {
	ep := pushtest.NewEndpoint(t)
	if _, err := pushClient(false).Post(ep.Srv.URL, "text/plain", nil); err == nil || !strings.Contains(err.Error(), "not public") {
		t.Fatalf("push client reached loopback: %v", err)
	}
	res, err := pushClient(true).Post(ep.Srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatalf("LAN mode: %v", err)
	}
	res.Body.Close()
}
