package edge

import (
	"container/list"
	"context"
	"net/http"
	"sync"
	"time"
)

// response is one upstream answer, shared by every viewer that asked for
// the same thing while it was in flight or cached.
type response struct {
	key  string
	done chan struct{} // closed once status, header and body are set

	status int
	header http.Header // Content-Type and Cache-Control only
	body   []byte

	expires time.Time
	elem    *list.Element // in flights.order once done and kept
}

// fetchFunc asks upstream once; ttl is how long the answer stays useful
// (0: answer only the requests already waiting for it).
type fetchFunc func(ctx context.Context) (status int, header http.Header, body []byte, ttl time.Duration)

// flights coalesces upstream requests: the first request for a key starts
// the fetch, every later request for that key (until the answer expires)
// waits for and shares the same bytes. Answers kept are bounded by
// maxBytes, oldest first out. Its goroutines (one per fetch, the sweeper)
// stop with close.
type flights struct {
	maxBytes int64
	timeout  time.Duration

	mu    sync.Mutex
	m     map[string]*response
	order *list.List // kept answers, oldest completion first
	bytes int64

	ctx    context.Context // cancelled by close: fetches in flight end
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// shared counts requests answered by a fetch another request started.
	shared func()
}

func newFlights(maxBytes int64, timeout time.Duration, shared func()) *flights {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flights{maxBytes: maxBytes, timeout: timeout, m: map[string]*response{}, order: list.New(),
		ctx: ctx, cancel: cancel, shared: shared}
	f.wg.Add(1)
	go f.sweep()
	return f
}

// get returns the answer for key, fetching it unless a fetch for it is in
// flight or its answer is still fresh. It returns nil when ctx ends first
// (the viewer went away; the fetch goes on for the others).
func (f *flights) get(ctx context.Context, key string, fetch fetchFunc) *response {
	f.mu.Lock()
	r, ok := f.m[key]
	if ok && r.elem != nil && time.Now().After(r.expires) {
		f.dropLocked(r)
		ok = false
	}
	if !ok {
		r = &response{key: key, done: make(chan struct{})}
		f.m[key] = r
		f.wg.Add(1)
		go f.run(r, fetch)
	} else {
		f.shared()
	}
	f.mu.Unlock()
	select {
	case <-r.done:
		return r
	case <-ctx.Done():
		return nil
	}
}

func (f *flights) run(r *response, fetch fetchFunc) {
	defer f.wg.Done()
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	status, header, body, ttl := fetch(ctx)
	cancel()
	r.status, r.header, r.body = status, header, body
	f.mu.Lock()
	defer f.mu.Unlock()
	close(r.done)
	if ttl <= 0 || int64(len(body)) > f.maxBytes/4 {
		delete(f.m, r.key) // the waiters have it; nobody later gets it
		return
	}
	r.expires = time.Now().Add(ttl)
	r.elem = f.order.PushBack(r)
	f.bytes += int64(len(body))
	for f.bytes > f.maxBytes {
		f.dropLocked(f.order.Front().Value.(*response))
	}
}

func (f *flights) dropLocked(r *response) {
	if r.elem != nil {
		f.order.Remove(r.elem)
		f.bytes -= int64(len(r.body))
		r.elem = nil
	}
	if f.m[r.key] == r {
		delete(f.m, r.key)
	}
}

// sweep frees expired answers every half second (playlists expire long
// before the parts kept around them).
func (f *flights) sweep() {
	defer f.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		f.mu.Lock()
		for e := f.order.Front(); e != nil; {
			next := e.Next()
			if r := e.Value.(*response); now.After(r.expires) {
				f.dropLocked(r)
			}
			e = next
		}
		f.mu.Unlock()
	}
}

// usage is the memory kept answers take and how many there are.
func (f *flights) usage() (bytes int64, entries int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes, f.order.Len()
}

// close ends fetches in flight (their waiters get a 502) and the sweeper.
func (f *flights) close() {
	f.cancel()
	f.wg.Wait()
}
