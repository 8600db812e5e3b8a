// Package pushtest is a browser's side of Web Push for tests: a local push
// service that records what it is sent, a subscription's keys, RFC 8291
// decryption and VAPID (RFC 8292) verification.
package pushtest

import (
	"bytes"
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
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pushed is one request the local push endpoint received.
type Pushed struct {
	Header http.Header
	Body   []byte
}

// Endpoint is a local push service: it records every POST and answers
// with status (201 unless changed).
type Endpoint struct {
	Srv    *httptest.Server
	Got    chan Pushed
	Status atomic.Int32
}

// NewEndpoint starts one, closed when the test ends.
func NewEndpoint(t testing.TB) *Endpoint {
	e := &Endpoint{Got: make(chan Pushed, 16)}
	e.Status.Store(http.StatusCreated)
	e.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			e.Got <- Pushed{Header: r.Header.Clone(), Body: body}
		}
		w.WriteHeader(int(e.Status.Load()))
	}))
	t.Cleanup(e.Srv.Close)
	return e
}

// BrowserKeys are what a browser's PushManager makes: a P-256 key pair and
// a 16-byte auth secret.
type BrowserKeys struct {
	Priv *ecdh.PrivateKey
	Auth []byte
}

// NewBrowserKeys makes them.
func NewBrowserKeys(t testing.TB) BrowserKeys {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return BrowserKeys{Priv: priv, Auth: auth}
}

// P256dh and AuthKey are the subscription's keys as a browser sends them.
func (k BrowserKeys) P256dh() string {
	return base64.RawURLEncoding.EncodeToString(k.Priv.PublicKey().Bytes())
}
func (k BrowserKeys) AuthKey() string { return base64.RawURLEncoding.EncodeToString(k.Auth) }

// Decrypt undoes RFC 8291 (Message Encryption for Web Push) over RFC 8188
// (aes128gcm), as the browser would.
func (k BrowserKeys) Decrypt(body []byte) ([]byte, error) {
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
	secret, err := k.Priv.ECDH(as)
	if err != nil {
		return nil, err
	}
	// PRK_key = HMAC(auth, ecdh); IKM = HKDF-Expand(PRK_key, "WebPush: info"||0||ua_pub||as_pub, 32)
	info := append([]byte("WebPush: info\x00"), k.Priv.PublicKey().Bytes()...)
	info = append(info, senderPub...)
	mac := hmac.New(sha256.New, k.Auth)
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

// CheckVAPID verifies the Authorization header: "vapid t=JWT, k=KEY" whose
// key is the stored public key and whose ES256 JWT it signed, for the
// endpoint's origin, not yet expired.
func CheckVAPID(t testing.TB, header, publicKey, audience, subject string) {
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
	if claims.Sub != subject {
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
