//go:build !linux

package room

import "errors"

// Without epoll every connection has a reading goroutine (blocking mode).
type poller struct{}

func newPoller(func(*client)) (*poller, error) { return nil, errors.New("no epoll on this platform") }
func (p *poller) add(*client) error            { return errors.New("no epoll on this platform") }
func (p *poller) rearm(*client)                {}
func (p *poller) remove(*client)               {}
func (p *poller) close()                       {}

func (c *client) readNonBlocking([]byte) (int, bool, error) {
	return 0, false, errors.New("no non-blocking reads on this platform")
}

func (c *client) writeNonBlocking([][]byte, int) (int, bool, error) { return 0, true, nil }

const pollable = false
