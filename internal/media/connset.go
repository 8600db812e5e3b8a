package media

import "sync"

// ConnSet is an ingest server's open connections (RTMP, SRT), so that
// closing the server can drop every publisher at once. Once CloseAll has
// run, Track refuses new ones.
type ConnSet[C interface {
	comparable
	Close() error
}] struct {
	mu     sync.Mutex
	conns  map[C]struct{}
	closed bool
}

// Track adds c; false (c untouched) when the set is already closed.
func (s *ConnSet[C]) Track(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[C]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// Untrack removes c and closes it.
func (s *ConnSet[C]) Untrack(c C) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// CloseAll closes every tracked connection and refuses new ones; the
// goroutines serving them notice and Untrack them.
func (s *ConnSet[C]) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}
