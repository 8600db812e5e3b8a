//go:build linux

package room

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// poller watches idle connections for input with one epoll set, so a
// viewer with nothing to say costs no goroutine and no read buffer. Each
// connection is armed one-shot: when it becomes readable, one goroutine
// reads what is there, handles the frames and re-arms it.
//
// An event carries the descriptor and a generation number, so a stale
// event for a closed descriptor the kernel has reused is recognised.
type poller struct {
	epfd int
	wake int // eventfd: Close interrupts the wait

	mu    sync.Mutex
	conns map[int32]*client
	gen   uint32

	onReadable func(*client)
	done       chan struct{}
}

func newPoller(onReadable func(*client)) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{epfd: epfd, wake: wake, conns: map[int32]*client{}, onReadable: onReadable, done: make(chan struct{})}
	go p.run()
	return p, nil
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// add starts watching c (its fd must be set).
func (p *poller) add(c *client) error {
	p.mu.Lock()
	p.gen++
	c.pollGen = p.gen
	p.conns[int32(c.fd)] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd), Pad: int32(c.pollGen)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(c.fd))
		p.mu.Unlock()
		return fmt.Errorf("epoll add: %w", err)
	}
	return nil
}

// rearm watches c again after its input was handled. Level-triggered: input
// that arrived meanwhile fires at once.
func (p *poller) rearm(c *client) {
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd), Pad: int32(c.pollGen)}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev) // fails only once c is removed
}

// remove stops watching c; call it before the descriptor is closed.
func (p *poller) remove(c *client) {
	p.mu.Lock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
	}
	p.mu.Unlock()
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wake {
				return
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil && c.pollGen == uint32(ev.Pad) {
				go p.onReadable(c) // a goroutine only while there is input
			}
		}
	}
}

// close stops the loop; connections still registered are the gateway's to end.
func (p *poller) close() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(p.wake, one[:])
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wake)
}

// readNonBlocking reads what c's socket holds now; again reports an empty socket.
func (c *client) readNonBlocking(buf []byte) (n int, again bool, err error) {
	rerr := c.raw.Read(func(fd uintptr) bool {
		n, err = unix.Read(int(fd), buf)
		return true // never wait: the poller says when there is more
	})
	if rerr != nil {
		return 0, false, rerr
	}
	if errors.Is(err, unix.EAGAIN) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, false, nil
}

// writeNonBlocking writes as much of bufs (the first one from off) as the
// socket takes now, in one writev.
func (c *client) writeNonBlocking(bufs [][]byte, off int) (n int, again bool, err error) {
	iov := make([][]byte, 0, min(len(bufs), 64))
	for i, b := range bufs {
		if i == 0 {
			b = b[off:]
		}
		if i == 64 {
			break
		}
		iov = append(iov, b)
	}
	werr := c.raw.Write(func(fd uintptr) bool {
		n, err = unix.Writev(int(fd), iov)
		return true
	})
	if werr != nil {
		return 0, false, werr
	}
	if errors.Is(err, unix.EAGAIN) {
		return max(n, 0), true, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, false, nil
}

// pollable reports whether this platform has the poller.
const pollable = true
