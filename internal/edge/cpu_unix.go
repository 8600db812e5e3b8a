//go:build unix

package edge

import (
	"sync"
	"syscall"
	"time"
)

// cpuMeter measures the process's CPU time between two reads, in cores.
type cpuMeter struct {
	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
}

func (c *cpuMeter) cores() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out float64
	if !c.lastWall.IsZero() {
		if wall := now.Sub(c.lastWall); wall > 0 {
			out = float64(used-c.lastCPU) / float64(wall)
		}
	}
	c.lastCPU, c.lastWall = used, now
	return out
}
