package ratelimit

import (
	"testing"
	"time"
)

func TestLimiterAndThrottle(t *testing.T) {
	now := time.Now()
	l := NewLimiter(3, time.Minute)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait < 15*time.Second || wait > 25*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for ~20s", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key was limited")
	}
	if ok, _ := l.Allow("a", now.Add(21*time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}

	th := NewLoginThrottle()
	for i := 0; i < 3; i++ {
		th.Fail(now, "name:x")
	}
	if w := th.Wait(now, "name:x"); w != 0 {
		t.Fatalf("free failures cost %v", w)
	}
	var last time.Duration
	for i := 0; i < 4; i++ {
		th.Fail(now, "name:x")
		w := th.Wait(now, "name:x")
		if w <= last {
			t.Fatalf("delay did not grow: %v after %v", w, last)
		}
		last = w
	}
	if th.Wait(now, "name:y") != 0 {
		t.Fatal("another name was throttled")
	}
	th.Succeed("name:x")
	if th.Wait(now, "name:x") != 0 {
		t.Fatal("success did not clear the delay")
	}
}
