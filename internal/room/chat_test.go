package room

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func TestExtractMentions(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"hi @bob", []string{"bob"}},
		{"@Bob.B. and @bob.b, @Alice!", []string{"Bob.B", "Alice"}},
		{"mail a@b.com or x@@y", nil},
		{"@a single letter", nil},
		{"@张三 你好", []string{"张三"}},
		{"(@carol)", []string{"carol"}},
		{"@" + strings.Repeat("x", 25), nil},
		{"@aa @bb @cc @dd @ee @ff @gg", []string{"aa", "bb", "cc", "dd", "ee"}},
	} {
		if got := ExtractMentions(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ExtractMentions(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func FuzzExtractMentions(f *testing.F) {
	for _, s := range []string{"hi @bob", "@a@b@c", "x@y", "@张三.", "@\xff\xfe", "@@@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := ExtractMentions(text)
		if len(got) > maxMentionNames {
			t.Fatalf("%d names", len(got))
		}
		seen := map[string]bool{}
		for _, name := range got {
			if n := utf8.RuneCountInString(name); n < 2 || n > 24 || strings.HasSuffix(name, ".") {
				t.Fatalf("bad name %q", name)
			}
			for _, r := range name {
				if !isNameRune(r) {
					t.Fatalf("name %q holds %q", name, r)
				}
			}
			if !strings.Contains(text, "@"+name) {
				t.Fatalf("name %q is not in the text", name)
			}
			if seen[strings.ToLower(name)] {
				t.Fatalf("name %q twice", name)
			}
			seen[strings.ToLower(name)] = true
		}
	})
}

func TestExcerpt(t *testing.T) {
	if got := excerpt("short"); got != "short" {
		t.Fatal(got)
	}
	long := strings.Repeat("字", 50)
	if got := excerpt(long); utf8.RuneCountInString(got) != excerptRunes+1 || !strings.HasSuffix(got, "…") {
		t.Fatalf("excerpt = %q", got)
	}
}

func TestNoticesSkipSenderAndDuplicates(t *testing.T) {
	m := Message{ID: 7, Room: "r", UserID: 1, User: "me", Text: "hey @you @me @other",
		Reply: &Quote{ID: 5, UserID: 2, User: "you"}}
	got := notices(m, []mention{{2, "you"}, {1, "me"}, {3, "other"}})
	want := []ChatNotice{
		{Kind: NoticeReply, UserID: 2, Channel: "r", From: "me", MessageID: 7, Excerpt: m.Text},
		{Kind: NoticeMention, UserID: 3, Channel: "r", From: "me", MessageID: 7, Excerpt: m.Text},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notices = %+v", got)
	}
	if got := notices(Message{UserID: 1, Reply: &Quote{UserID: 1}}, nil); len(got) != 0 {
		t.Fatalf("a reply to oneself raised %+v", got)
	}
}

// TestNotifierNeverBlocks: a Notify that hangs fills the queue; later
// notices are dropped and counted at once, and close still returns (the
// call in flight ends with its context).
func TestNotifierNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	n := newNotifier(func(ctx context.Context, ev ChatNotice) {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}, quietLog(), 4)
	n.timeout = 200 * time.Millisecond
	start := time.Now()
	batch := make([]ChatNotice, 20)
	for i := range batch {
		batch[i] = ChatNotice{Kind: NoticeMention, UserID: int64(i + 1)}
	}
	n.add(batch)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("add took %v", d)
	}
	// One is being delivered, four wait: the other 15 are dropped.
	if got := n.dropped.Load(); got < 15 || got > 16 {
		t.Fatalf("dropped %d, want 15 or 16", got)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 20-n.dropped.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.close()
	n.close() // twice is harmless

	// Without a hook nothing queues or runs.
	idle := newNotifier(nil, quietLog(), 4)
	idle.add(batch)
	idle.close()
	if idle.dropped.Load() != 0 {
		t.Fatal("a nil hook counted drops")
	}
}
