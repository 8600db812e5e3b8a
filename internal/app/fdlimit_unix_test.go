//go:build unix

package app

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOpenFileLimitIsRaised: from a low soft limit, a node takes at least
// its whole hard limit, and with CAP_SYS_RESOURCE goes past it (a default
// of 20,000 open files would cap an edge at fewer viewers).
func TestOpenFileLimitIsRaised(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	low := syscall.Rlimit{Cur: 1024, Max: before.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got, err := raiseOpenFileLimit()
	if err != nil {
		t.Fatalf("raise: %v", err)
	}
	var after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if after.Cur != got {
		t.Fatalf("reported %d, the limit is %d", got, after.Cur)
	}
	if got < before.Max && got < wantOpenFiles {
		t.Fatalf("limit %d, below the hard limit %d", got, before.Max)
	}
	if canRaiseHardLimits(t) && before.Max < wantOpenFiles && got <= before.Max {
		t.Fatalf("with CAP_SYS_RESOURCE the limit stayed at %d (hard limit %d)", got, before.Max)
	}
	t.Logf("open-file limit %d → %d", before.Cur, got)
}

// canRaiseHardLimits reports whether this process holds CAP_SYS_RESOURCE
// (root in a container often does not).
func canRaiseHardLimits(t *testing.T) bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", hex, err)
			}
			const capSysResource = 24
			return caps&(1<<capSysResource) != 0
		}
	}
	return false
}
