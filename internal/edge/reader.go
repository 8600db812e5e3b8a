package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReaderStats add up what light LL-HLS readers did (cluster tests and
// `livehouse bench edge`).
type ReaderStats struct {
	Parts, Playlists, Errors, Bytes atomic.Int64

	mu    sync.Mutex
	parts map[string]struct{} // distinct part names
}

// DistinctParts is how many different parts the readers fetched.
func (s *ReaderStats) DistinctParts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts)
}

func (s *ReaderStats) sawPart(name string) {
	s.mu.Lock()
	if s.parts == nil {
		s.parts = map[string]struct{}{}
	}
	s.parts[name] = struct{}{}
	s.mu.Unlock()
}

// ReadLLHLS plays a stream the way an LL-HLS player's network side does,
// without decoding: the multivariant playlist, then its first media
// playlist, then forever the preload-hinted part followed by a blocking
// reload for the playlist that lists it (_HLS_msn/_HLS_part). It returns
// when ctx ends (nil) or on an error it cannot get past.
func ReadLLHLS(ctx context.Context, client *http.Client, index string, st *ReaderStats) error {
	base, err := url.Parse(index)
	if err != nil {
		return fmt.Errorf("playlist URL: %w", err)
	}
	body, err := get(ctx, client, base.String(), st)
	if err != nil {
		return err
	}
	var media *url.URL
	for _, line := range strings.Split(string(body), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if media, err = base.Parse(line); err != nil {
				return fmt.Errorf("media playlist URL %q: %w", line, err)
			}
			break
		}
	}
	if media == nil {
		return errors.New("multivariant playlist lists no media playlist")
	}
	next := media.String()
	failures := 0
	for ctx.Err() == nil {
		body, err := get(ctx, client, next, st)
		if err == nil {
			st.Playlists.Add(1)
		}
		var p mediaPlaylist
		if err == nil {
			p = parseMedia(body)
		}
		if err != nil || p.hint == "" {
			if ctx.Err() != nil {
				return nil
			}
			if failures++; failures > 50 {
				return fmt.Errorf("no usable media playlist: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			next = media.String()
			continue
		}
		hint, err := media.Parse(p.hint)
		if err != nil {
			return fmt.Errorf("preload hint %q: %w", p.hint, err)
		}
		data, err := get(ctx, client, hint.String(), st)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if failures++; failures > 50 {
				return err
			}
			next = media.String()
			continue
		}
		failures = 0
		st.Parts.Add(1)
		st.Bytes.Add(int64(len(data)))
		st.sawPart(hint.Path)
		u := *media
		q := u.Query()
		q.Set("_HLS_msn", strconv.FormatUint(p.msn, 10))
		q.Set("_HLS_part", strconv.Itoa(p.part))
		u.RawQuery = q.Encode()
		next = u.String()
	}
	return nil
}

// mediaPlaylist is what a reader needs of an LL-HLS media playlist: the
// hinted part and its (msn, part) position.
type mediaPlaylist struct {
	hint string
	msn  uint64
	part int
}

func parseMedia(body []byte) mediaPlaylist {
	var p mediaPlaylist
	var seq uint64
	segs, parts := uint64(0), 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			seq, _ = strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(line, "#EXTINF:"):
			segs++
			parts = 0
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			parts++
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:") && strings.Contains(line, "TYPE=PART"):
			if i := strings.Index(line, `URI="`); i >= 0 {
				rest := line[i+5:]
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					p.hint = rest[:j]
				}
			}
		}
	}
	p.msn, p.part = seq+segs, parts
	return p
}

func get(ctx context.Context, client *http.Client, u string, st *ReaderStats) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			st.Errors.Add(1)
		}
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		st.Errors.Add(1)
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		st.Errors.Add(1)
		return nil, fmt.Errorf("GET %s: %d %s", u, res.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}
