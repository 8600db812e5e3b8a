package simulcast

import (
	"context"
	"io"
	"strings"

	srt "github.com/datarhei/gosrt"

	"github.com/livehouse/livehouse/internal/media"
)

// srtChunk is what one SRT packet carries: seven MPEG-TS packets.
const srtChunk = 7 * 188

// chunkWriter hands MPEG-TS to SRT in whole packets of at most srtChunk.
type chunkWriter struct {
	w   io.Writer
	buf []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(srtChunk-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == srtChunk {
			if err := c.Flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) Flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// sessionSRT sends the stream as MPEG-TS over SRT (caller mode); the URL's
// query is the SRT configuration (streamid, passphrase, latency…), the key,
// if any, is the streamid.
func (w *worker) sessionSRT(ctx context.Context, stream *media.Stream) (bool, error) {
	cfg := srt.DefaultConfig()
	addr, err := cfg.UnmarshalURL(w.dest.URL)
	if err != nil {
		return false, &sessionError{reason: ReasonRefused, fatal: true, err: err}
	}
	if w.key != "" {
		cfg.StreamId = w.key
	}
	fd, err := newFeed(w, stream)
	if err != nil {
		return false, err
	}
	ctx, stop := context.WithCancel(ctx)
	defer fd.close()
	defer stop()
	// gosrt's Dial has no context: it gives up after the config's
	// ConnectionTimeout (3 s by default).
	conn, err := srt.Dial("srt", addr, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if strings.Contains(err.Error(), "rejected") { // gosrt has no error value for a REJECT
			return false, &sessionError{reason: ReasonRefused, err: err}
		}
		return false, &sessionError{reason: ReasonUnreachable, err: err}
	}
	defer conn.Close()
	cw := &chunkWriter{w: conn}
	feed, err := newTSFeed(cw, cw.Flush, fd.tracks)
	if err != nil {
		return false, err
	}
	buf := make([]byte, 1500)
	read := func() error { _, err := conn.Read(buf); return err }
	return w.pump(ctx, fd, read, feed.write)
}
