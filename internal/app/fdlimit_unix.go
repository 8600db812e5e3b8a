//go:build unix

package app

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// wantOpenFiles is as many open files as a node asks for: every viewer's
// WebSocket and every LL-HLS request is one. Go raises the soft limit to
// the hard one by itself; a node run as root (or with CAP_SYS_RESOURCE)
// raises the hard limit too, as far as the kernel allows (fs.nr_open),
// so a busy edge is not capped by a distribution's default of 20,000 or
// fewer (under systemd, LimitNOFILE= sets it instead).
const wantOpenFiles = 1 << 20

// raiseOpenFileLimit raises RLIMIT_NOFILE towards wantOpenFiles and
// returns the limit in force afterwards.
func raiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	want := uint64(wantOpenFiles)
	if data, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil && n < want {
			want = n
		}
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	raised := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised)
	if errors.Is(err, syscall.EPERM) {
		// Not allowed to raise the hard limit: take all of it.
		if lim.Cur == lim.Max {
			return lim.Cur, nil
		}
		raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised)
	}
	if err != nil {
		return lim.Cur, err
	}
	return raised.Cur, nil
}
