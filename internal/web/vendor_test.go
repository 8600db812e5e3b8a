package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestVendoredFilesMatchRecordedHashes checks that every browser library we
// serve is byte-for-byte what scripts/vendor-web.sh copied from the version
// pinned in package.json.
func TestVendoredFilesMatchRecordedHashes(t *testing.T) {
	record, err := assets.ReadFile("static/vendor/VENDOR.txt")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	data, err := os.ReadFile("../../package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, line := range strings.Split(string(record), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 4 {
			t.Fatalf("VENDOR.txt line %q: want package version sha256 file", line)
		}
		name, version, want, file := f[0], f[1], f[2], f[3]
		if pinned := pkg.DevDependencies[name]; pinned != version {
			t.Errorf("%s: vendored %s but package.json pins %q; run scripts/vendor-web.sh", name, version, pinned)
		}
		body, err := assets.ReadFile("static/vendor/" + file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, recorded %s", file, got, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("VENDOR.txt lists no files")
	}
	entries, _ := assets.ReadDir("static/vendor")
	if len(entries) != checked+1 {
		t.Errorf("static/vendor holds %d files, VENDOR.txt lists %d", len(entries)-1, checked)
	}
}
