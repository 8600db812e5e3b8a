package notify

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/social"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// pushed is one request the local push endpoint received.
type pushed struct {
	header http.Header
	body   []byte
}

// pushEndpoint is a local push service: it records every POST and answers
// with status (201 unless changed).
type pushEndpoint struct {
	srv    *httptest.Server
	got    chan pushed
	status atomic.Int32
}

func newPushEndpoint(t *testing.T) *pushEndpoint {
	e := &pushEndpoint{got: make(chan pushed, 16)}
	e.status.Store(http.StatusCreated)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			e.got <- pushed{header: r.Header.Clone(), body: body}
		}
		w.WriteHeader(int(e.status.Load()))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// browserKeys are what a browser's PushManager makes: a P-256 key pair and
// a 16-byte auth secret.
type browserKeys struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newBrowserKeys(t *testing.T) browserKeys {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return browserKeys{priv: priv, auth: auth}
}

func (k browserKeys) subscription(userID int64, endpoint string) Subscription {
	return Subscription{UserID: userID, Endpoint: endpoint,
		P256dh: base64.RawURLEncoding.EncodeToString(k.priv.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(k.auth)}
}

// decrypt undoes RFC 8291 (Message Encryption for Web Push) over RFC 8188
// (aes128gcm), as the browser would.
func (k browserKeys) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, fmt.Errorf("body of %d bytes has no aes128gcm header", len(body))
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes, want the sender's 65-byte public key", idlen)
	}
	senderPub, ciphertext := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ciphertext)) > rs {
		return nil, fmt.Errorf("ciphertext of %d bytes in records of %d: more than one record", len(ciphertext), rs)
	}
	as, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	secret, err := k.priv.ECDH(as)
	if err != nil {
		return nil, err
	}
	// PRK_key = HMAC(auth, ecdh); IKM = HKDF-Expand(PRK_key, "WebPush: info"||0||ua_pub||as_pub, 32)
	info := append([]byte("WebPush: info\x00"), k.priv.PublicKey().Bytes()...)
	info = append(info, senderPub...)
	mac := hmac.New(sha256.New, k.auth)
	mac.Write(secret)
	ikm, err := hkdf.Expand(sha256.New, mac.Sum(nil), string(info), 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// The last (only) record: data, the delimiter 2, zero padding.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, fmt.Errorf("no last-record delimiter")
	}
	return plain[:len(plain)-1], nil
}

// checkVAPID verifies the Authorization header: "vapid t=JWT, k=KEY" whose
// key is the stored public key and whose ES256 JWT it signed, for the
// endpoint's origin, not yet expired.
func checkVAPID(t *testing.T, header, publicKey, audience string) {
	t.Helper()
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		t.Fatalf("Authorization %q: not vapid", header)
	}
	var token, key string
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "t="); ok {
			token = v
		} else if v, ok := strings.CutPrefix(part, "k="); ok {
			key = v
		}
	}
	if key != strings.TrimRight(publicKey, "=") {
		t.Fatalf("k=%q, want the stored public key %q", key, publicKey)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q has %d parts", token, len(parts))
	}
	var head struct{ Alg, Typ string }
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	for i, v := range []any{&head, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, v) != nil {
			t.Fatalf("JWT part %d %q: %v", i, parts[i], err)
		}
	}
	if head.Alg != "ES256" {
		t.Fatalf("JWT alg %q, want ES256", head.Alg)
	}
	if claims.Aud != audience {
		t.Fatalf("JWT aud %q, want %q", claims.Aud, audience)
	}
	if now := time.Now().Unix(); claims.Exp <= now || claims.Exp > now+24*3600 {
		t.Fatalf("JWT exp %d: want in the next 24 h (now %d)", claims.Exp, now)
	}
	if claims.Sub != "mailto:ops@example.org" {
		t.Fatalf("JWT sub %q", claims.Sub)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(publicKey, "="))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatalf("stored public key: %v", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("JWT signature of %d bytes: %v", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("JWT signature does not verify against the stored VAPID public key")
	}
}

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
		ep := newPushEndpoint(t)
		browser := newBrowserKeys(t)
		if err := f.svc.store.Subscribe(ctx, browser.subscription(f.follower, ep.srv.URL+"/push/abc123"), MaxSubscriptions); err != nil {
			t.Fatal(err)
		}

		f.svc.WentLive(f.channel.ID, f.channel.Slug, 41)
		var p pushed
		select {
		case p = <-ep.got:
		case <-time.After(20 * time.Second):
			t.Fatal("no push reached the local push endpoint")
		}
		if ce := p.header.Get("Content-Encoding"); ce != "aes128gcm" {
			t.Fatalf("Content-Encoding %q", ce)
		}
		if p.header.Get("TTL") == "" {
			t.Fatal("no TTL header")
		}
		checkVAPID(t, p.header.Get("Authorization"), f.svc.vapid.Public, ep.srv.URL)
		plain, err := browser.decrypt(p.body)
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
		ep.status.Store(http.StatusGone)
		if err := f.svc.wentLive(ctx, f.channel.ID, f.channel.Slug, 43); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ep.got:
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
		case extra := <-ep.got:
			t.Fatalf("an extra push arrived: %v", extra.header)
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
	k := newBrowserKeys(t)
	good := k.subscription(1, "https://push.example.net/send/abc")
	in := subscriptionInput{Endpoint: good.Endpoint, Keys: keysArg{P256dh: good.P256dh, Auth: good.Auth}}
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
