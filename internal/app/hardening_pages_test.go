package app

import (
	"strings"
	"testing"
)

// TestHardening07NoOpenRedirectAfterLogin: whatever a link puts in next=,
// a real log-in in Chromium ends on this site; a path on it is followed.
func TestHardening07NoOpenRedirectAfterLogin(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	newUser(t, n, "wanderer", false)
	out := runBrowser(t, node, chromium, "next.mjs", []string{n.http, "wanderer", "wanderer-password"},
		"NEXT /wallet?tab=coins -> /wallet?tab=coins")
	hostile := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "NEXT ") || strings.HasPrefix(line, "NEXT /wallet") {
			continue
		}
		hostile++
		if !strings.HasSuffix(line, " -> /account") {
			t.Errorf("log-in followed a hostile next: %s", line)
		}
	}
	if hostile != 10 {
		t.Fatalf("%d of 10 hostile next values tried", hostile)
	}
}
