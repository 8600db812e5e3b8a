package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultsAreValidAndMatchExampleFile(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	got, err := Load("t", []string{"--config", "../../livehouse.example.json"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got.File = ""
	if got != Default() {
		t.Fatalf("livehouse.example.json differs from the defaults:\n file %+v\n code %+v", got, Default())
	}
	// And the example names every setting, so it is a complete reference.
	data, _ := os.ReadFile("../../livehouse.example.json")
	c := Default()
	c.FlagSet("t").VisitAll(func(f *flag.Flag) {
		if f.Name != "config" && !strings.Contains(string(data), `"`+f.Name+`"`) {
			t.Errorf("livehouse.example.json lacks %q", f.Name)
		}
	})
}

func TestPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"http": ":1111", "rtmp": ":2222", "data": "/from-file", "hls-segment-count": 9}`), 0o600)
	c, err := Load("t", []string{"--config", file, "--http", ":3333"},
		env(map[string]string{"LIVEHOUSE_HTTP": ":4444", "LIVEHOUSE_RTMP": ":5555"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":3333" || c.RTMPAddr != ":5555" || c.DataDir != "/from-file" || c.HLSSegmentCount != 9 {
		t.Fatalf("got %+v", c)
	}
	// The file may also come from the environment.
	c, err = Load("t", nil, env(map[string]string{"LIVEHOUSE_CONFIG": file}), io.Discard)
	if err != nil || c.HTTPAddr != ":1111" {
		t.Fatalf("LIVEHOUSE_CONFIG: %+v %v", c, err)
	}
}

func TestErrorsExplainTheSetting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--http", "8080"}, nil, `--http "8080" is not a listen address like :8080 or 127.0.0.1:8080`},
		{[]string{"--rtmp", ":99999"}, nil, `--rtmp ":99999": port must be a number from 0 to 65535`},
		{[]string{"--db", "mysql://x"}, nil, "--db must be empty, sqlite:PATH or postgres://USER@HOST:PORT/DB"},
		{[]string{"--admin-token", "short"}, nil, "--admin-token must be at least 16 characters"},
		{[]string{"--log-level", "loud"}, nil, `--log-level "loud": use debug, info, warn or error`},
		{[]string{"--hls-part-duration", "50ms"}, nil, "--hls-part-duration 50ms: must be from 100ms to 1s"},
		{[]string{"--hls-segment-count", "3"}, nil, "--hls-segment-count 3: Low-Latency HLS needs 7 to 100"},
		{[]string{"--public-host", "http://x/"}, nil, `--public-host "http://x/" must be a bare host name like live.example.com`},
		{nil, map[string]string{"LIVEHOUSE_HLS_SEGMENT_COUNT": "many"}, `environment LIVEHOUSE_HLS_SEGMENT_COUNT="many": parse error`},
		{[]string{"--config", write("typo.json", `{"htpp": ":1"}`)}, nil, `unknown setting "htpp"`},
		{[]string{"--config", write("bad.json", `{"http": `)}, nil, "not a JSON object"},
		{[]string{"--config", write("arr.json", `{"http": [1]}`)}, nil, `setting "http": want a string, number or boolean`},
		{[]string{"--config", filepath.Join(dir, "missing.json")}, nil, "read config file"},
		{[]string{"serve"}, nil, `unexpected argument "serve"`},
		{[]string{"--simulcast-key", "c2hvcnQ="}, nil, "--simulcast-key must be the base64 of 32 bytes"},
	}
	for _, c := range cases {
		_, err := Load("t", c.args, env(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%v, %v) error = %v; want it to contain %q", c.args, c.env, err, c.want)
		}
	}
}

func TestDurationsAndBoolsFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"hls-part-duration": "300ms", "demo-channel": false, "hls-segment-count": 10}`), 0o600)
	c, err := Load("t", []string{"--config=" + file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HLSPartDuration != 300*time.Millisecond || c.DemoChannel || c.HLSSegmentCount != 10 {
		t.Fatalf("got %+v", c)
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	var b strings.Builder
	c := Default()
	fs := c.FlagSet("livehouse")
	Usage(fs, &b)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(b.String(), "--"+f.Name) || !strings.Contains(b.String(), EnvName(f.Name)) {
			t.Errorf("usage lacks %s", f.Name)
		}
	})
}

func FuzzApplyFile(f *testing.F) {
	data, _ := os.ReadFile("../../livehouse.example.json")
	f.Add(data)
	f.Add([]byte(`{"http": 8080}`))
	f.Add([]byte(`{"demo-channel": "yes"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		fs := c.FlagSet("fuzz")
		fs.SetOutput(io.Discard)
		if err := ApplyFile(fs, data); err != nil {
			return
		}
		_ = c.Validate() // must not panic, whatever the values
	})
}

// writeSelfSigned writes a fresh self-signed certificate and key for host.
func writeSelfSigned(t *testing.T, dir, host string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// TestHardening01TLSFlags: --tls-cert and --tls-key come together and must
// name a certificate and its key; the error says which setting is wrong.
func TestHardening01TLSFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir, "livehouse.test")
	c, err := Load("t", []string{"--tls-cert", cert, "--tls-key", key}, env(nil), io.Discard)
	if err != nil || c.TLSCert != cert || c.TLSKey != key {
		t.Fatalf("a valid pair: %+v %v", c, err)
	}
	c, err = Load("t", nil, env(map[string]string{"LIVEHOUSE_TLS_CERT": cert, "LIVEHOUSE_TLS_KEY": key}), io.Discard)
	if err != nil || c.TLSCert != cert {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	other := t.TempDir()
	_, otherKey := writeSelfSigned(t, other, "else.test")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", key}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", key}, "--tls-cert " + filepath.Join(dir, "missing.pem")},
		{[]string{"--tls-cert", garbage, "--tls-key", key}, "--tls-cert " + garbage},
		{[]string{"--tls-cert", cert, "--tls-key", otherKey}, "private key does not match public key"},
	} {
		if _, err := Load("t", c.args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%v) error = %v; want %q", c.args, err, c.want)
		}
	}
}

// TestHardening02TrustedProxiesFlag: the proxy list is checked at start.
func TestHardening02TrustedProxiesFlag(t *testing.T) {
	c, err := Load("t", []string{"--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"}, env(nil), io.Discard)
	if err != nil || c.TrustedProxies != "10.0.0.0/8, 127.0.0.1,::1" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.1/8/8"} {
		if _, err := Load("t", []string{"--trusted-proxies", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") {
			t.Errorf("--trusted-proxies %q: %v", bad, err)
		}
	}
}

// TestHardening20MetricsAndCapsFlags: the /metrics restrictions, the body
// timeout and the per-address player cap are validated settings.
func TestHardening20MetricsAndCapsFlags(t *testing.T) {
	c, err := Load("t", []string{"--metrics-token", "0123456789abcdef", "--metrics-addr", "127.0.0.1:9090",
		"--hls-players-per-address", "3", "--http-body-timeout", "5s"}, env(nil), io.Discard)
	if err != nil || c.MetricsToken != "0123456789abcdef" || c.MetricsAddr != "127.0.0.1:9090" || c.HLSPlayersPerAddress != 3 || c.HTTPBodyTimeout != 5*time.Second {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-token", "short"}, "--metrics-token must be at least 16 characters"},
		{[]string{"--metrics-addr", "9090"}, `--metrics-addr "9090" is not a listen address`},
		{[]string{"--metrics-addr", ":8080"}, "--metrics-addr must differ from --http"},
		{[]string{"--hls-players-per-address", "0"}, "--hls-players-per-address 0: must be from 1"},
		{[]string{"--http-body-timeout", "10ms"}, "--http-body-timeout 10ms: must be from 1s to 1h"},
	} {
		if _, err := Load("t", bad.args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Load(%v) error = %v; want %q", bad.args, err, bad.want)
		}
	}
}

// TestOutboxRetentionFlag: how long published money events stay in the
// outbox is a setting (default a day) that must outlast the room's
// one-minute gift replay.
func TestOutboxRetentionFlag(t *testing.T) {
	if d := Default().OutboxRetention; d != 24*time.Hour {
		t.Fatalf("default outbox retention %v, want 24h", d)
	}
	c, err := Load("t", nil, env(map[string]string{"LIVEHOUSE_OUTBOX_RETENTION": "72h"}), io.Discard)
	if err != nil || c.OutboxRetention != 72*time.Hour {
		t.Fatalf("from the environment: %v %v", c.OutboxRetention, err)
	}
	if c, err := Load("t", []string{"--outbox-retention", "10m"}, env(nil), io.Discard); err != nil || c.OutboxRetention != 10*time.Minute {
		t.Fatalf("the shortest retention: %v %v", c.OutboxRetention, err)
	}
	for _, bad := range []string{"9m", "30s", "0s", "-1h", "8761h"} {
		if _, err := Load("t", []string{"--outbox-retention", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--outbox-retention") {
			t.Errorf("--outbox-retention %s: %v", bad, err)
		}
	}
}

func TestRoleFlags(t *testing.T) {
	load := func(args ...string) error {
		_, err := Load("livehouse", args, func(string) string { return "" }, io.Discard)
		return err
	}
	if err := load("--role", "edge", "--region", "eu", "--public-url", "http://edge1.example.com:8080", "--upstream", "http://10.0.0.2:8080"); err != nil {
		t.Fatalf("a valid edge: %v", err)
	}
	for _, bad := range [][]string{
		{"--role", "mirror"},
		{"--role", "origin", "--upstream", "http://10.0.0.2:8080"},
		{"--public-url", "edge1.example.com"},
		{"--public-url", "http://edge1.example.com/live"},
		{"--region", "eu west"},
		{"--edge-cache-mib", "0"},
	} {
		if err := load(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
