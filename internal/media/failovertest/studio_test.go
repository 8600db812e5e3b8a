package failovertest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStudioBackupKeyAndInputs: the streamer makes a backup key in the
// studio; an encoder on the primary key and one on the backup key go live;
// the studio says the primary is on air and the backup stands by, in
// English and Chinese, at 1280 and 375 px; after the primary dies it says
// the backup is on air.
func TestStudioBackupKeyAndInputs(t *testing.T) {
	nodeBin, chromium, ok := playwright(t)
	if !ok {
		t.Skip("no browser")
	}
	n := startNode(t)
	if out, err := exec.Command(binary, "user", "create", "opsadmin", "--password", "ops-admin-password", "--admin", "--data", n.data).CombinedOutput(); err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	shots := os.Getenv("LIVEHOUSE_SCREENSHOTS")
	browse := func(lang, makeKey string) string {
		cmd := exec.Command(nodeBin, "../../../e2e/backup_studio.mjs", n.http, lang, "demo", "opsadmin", "ops-admin-password", makeKey, shots)
		cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
		out, err := cmd.CombinedOutput()
		t.Logf("browser:\n%s", out)
		if err != nil || strings.Contains(string(out), "PAGE_ERROR") {
			t.Fatalf("browser script: %v", err)
		}
		return string(out)
	}
	out := browse("en", "yes")
	_, rest, _ := strings.Cut(out, "BACKUP_KEY ")
	backupKey := strings.Fields(rest + " ")[0]
	if !strings.HasPrefix(backupKey, "sk_") {
		t.Fatalf("no backup key from the studio")
	}

	primary := n.publish(t, 440)
	waitFor(t, 30*time.Second, "primary on air", func() bool { i := n.inputs(); return i != nil && i.OnAir == "primary" })
	primaryKey := n.key
	n.key = backupKey
	n.publish(t, 880)
	n.key = primaryKey
	waitFor(t, 30*time.Second, "backup standing by", func() bool {
		i := n.inputs()
		return i != nil && i.Standby == "ready" && i.StandbyInput == "backup"
	})
	for _, lang := range []string{"en", "zh-CN"} {
		seen := 0
		for _, l := range strings.Split(browse(lang, "no"), "\n") {
			if !strings.HasPrefix(l, "INPUT ") {
				continue
			}
			seen++
			var width, scroll int
			_, _ = fmt.Sscanf(field(l, "width"), "%d", &width)
			_, _ = fmt.Sscanf(field(l, "scroll_width"), "%d", &scroll)
			if field(l, "on_air") != "primary" || field(l, "standby") != "ready" || !strings.Contains(l, "text=\"") || scroll > width {
				t.Errorf("studio: %s", l)
			}
		}
		if seen != 2 {
			t.Errorf("%s: %d INPUT lines, want 2", lang, seen)
		}
	}
	kill(primary)
	waitFor(t, 5*time.Second, "backup on air", func() bool { i := n.inputs(); return i != nil && i.OnAir == "backup" })
}

// field reads name=value from a line of space-separated pairs.
func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}
