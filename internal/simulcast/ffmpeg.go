package simulcast

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// Some RTMP servers speak a dialect gortmplib cannot read (ffmpeg's own
// -listen server answers FCPublish with a bare onFCPublish). For those,
// and for RTMPS servers that refuse gortmplib's handshake, a worker falls
// back to one ffmpeg child per destination: the subscription's frames go
// in as MPEG-TS over a pipe (tsFeed), ffmpeg copies them (-c copy) to FLV
// over RTMP. ffmpeg's progress report tells when bytes reach the server.

var (
	ffmpegOnce sync.Once
	ffmpegBin  string
)

func ffmpegPath() string {
	ffmpegOnce.Do(func() {
		if p, err := exec.LookPath("ffmpeg"); err == nil {
			ffmpegBin = p
		}
	})
	return ffmpegBin
}

// ffmpegTarget is the URL ffmpeg publishes to: the key appended as the
// stream name.
func ffmpegTarget(raw, key string) string {
	if key == "" {
		return raw
	}
	return strings.TrimSuffix(raw, "/") + "/" + url.PathEscape(key)
}

// tailBuffer keeps the end of ffmpeg's error output.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 1024 {
		b.buf = b.buf[len(b.buf)-1024:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

func (w *worker) sessionFFmpeg(ctx context.Context, stream *media.Stream) (bool, error) {
	bin := ffmpegPath()
	if bin == "" {
		return false, &sessionError{reason: ReasonUnsupported, fatal: true, err: errors.New("this server speaks an RTMP dialect that needs ffmpeg, which is not installed")}
	}
	fd, err := newFeed(w, stream)
	if err != nil {
		return false, err
	}
	ctx, stop := context.WithCancel(ctx)
	defer fd.close()
	defer stop()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-probesize", "2000000", "-analyzeduration", "1000000", "-f", "mpegts", "-i", "pipe:0",
		"-map", "0", "-c", "copy", "-progress", "pipe:1", "-stats_period", "0.5",
		"-rw_timeout", strconv.Itoa(int(writeTimeout/time.Microsecond)),
		"-f", "flv", "-flvflags", "no_duration_filesize", ffmpegTarget(w.dest.URL, w.key))
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return false, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return false, &sessionError{reason: ReasonUnsupported, fatal: true, err: fmt.Errorf("start ffmpeg: %w", err)}
	}
	// The progress report: "total_size=N" above zero means the server
	// took the stream.
	sending := make(chan struct{})
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "total_size="); ok {
				if n, _ := strconv.ParseInt(v, 10, 64); n > 0 {
					once.Do(func() { close(sending) })
				}
			}
		}
		exited <- cmd.Wait()
	}()
	bw := bufio.NewWriterSize(stdin, 64<<10)
	feed, err := newTSFeed(bw, bw.Flush, fd.tracks)
	if err != nil {
		cancel()
		<-exited
		return false, err
	}
	live := false
	frames, errs := fd.run(ctx)
	fail := func(err error) (bool, error) {
		stdin.Close()
		cancel()
		werr := <-exited
		said := stderr.String()
		detail := fmt.Errorf("%v (ffmpeg: %v: %s)", err, werr, said)
		if live {
			return true, &sessionError{reason: ReasonDisconnected, err: detail}
		}
		low := strings.ToLower(said)
		if strings.Contains(low, "connection refused") || strings.Contains(low, "timed out") || strings.Contains(low, "resolve") ||
			strings.Contains(low, "unreachable") || strings.Contains(low, "no route") || said == "" {
			return false, &sessionError{reason: ReasonUnreachable, err: detail}
		}
		return false, &sessionError{reason: ReasonRefused, err: detail}
	}
	for {
		select {
		case <-ctx.Done():
			stdin.Close()
			<-exited
			return live, nil
		case <-sending:
			sending = nil
			live = true
			w.set(State{State: StateLive})
		case err := <-exited:
			exited <- err // fail reads it again
			return fail(errors.New("ffmpeg ended"))
		case err := <-errs:
			stdin.Close()
			<-exited
			if errors.Is(err, context.Canceled) {
				return live, nil
			}
			return live, err
		case f := <-frames:
			if err := feed.write(f); err != nil {
				if errors.Is(err, io.ErrClosedPipe) || strings.Contains(err.Error(), "broken pipe") {
					return fail(errors.New("ffmpeg stopped reading"))
				}
				return fail(err)
			}
		}
	}
}
