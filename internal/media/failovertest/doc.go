// Package failovertest holds the multi-process tests of backup ingest and
// of a node draining on SIGTERM: the real livehouse binary, ffmpeg
// publishers killed with SIGKILL, and Chromium watching through it all.
// They run beside internal/app's tests (make test runs every package).
package failovertest
