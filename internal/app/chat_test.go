package app

import (
	"context"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/room"
)

// noticeLog records the chat notices the room hands to its Notify hook.
type noticeLog struct {
	mu  sync.Mutex
	got []room.ChatNotice
}

func (l *noticeLog) notify(_ context.Context, ev room.ChatNotice) {
	l.mu.Lock()
	l.got = append(l.got, ev)
	l.mu.Unlock()
}

func (l *noticeLog) waitFor(t *testing.T, n int) []room.ChatNotice {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		got := append([]room.ChatNotice(nil), l.got...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d chat notices: %+v", len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChatRepliesMentionsAndNotices: a message @naming accounts carries
// their names; a reply carries the quoted author and excerpt live and in
// history; the Notify hook hears each mention and the replied-to author
// (never the sender); a reply to a message of another room is refused.
func TestChatRepliesMentionsAndNotices(t *testing.T) {
	var notices noticeLog
	n := startNode(t, "", WithChatNotify(notices.notify))
	owner := newUser(t, n, "chathost", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "chatroom", "title": "Chat"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "otherroom", "title": "Other"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	alice, bob := newUser(t, n, "alice", false), newUser(t, n, "Bob.B", false)
	va, vb := n.dialWS(alice), n.dialWS(bob)
	va.write(map[string]any{"type": "join", "room": "chatroom"})
	j := va.expect("joined")
	if j["max_length"] != float64(200) {
		t.Fatalf("joined.max_length = %v, want the default 200", j["max_length"])
	}
	vb.write(map[string]any{"type": "join", "room": "chatroom"})
	vb.expect("joined")

	// Alice names Bob (another spelling), herself, and nobody real.
	va.write(map[string]any{"type": "send", "text": "hi @bob.b. and @alice and @ghost99 and email a@b.c", "nonce": "1"})
	va.expect("sent")
	m := vb.danmaku(1)[0]
	if got := m["mentions"]; got == nil || len(got.([]any)) != 2 || got.([]any)[0] != "Bob.B" || got.([]any)[1] != "alice" {
		t.Fatalf("mentions = %v, want [Bob.B alice]", got)
	}
	firstID := m["id"].(string)

	// Bob replies; both see the quote.
	vb.write(map[string]any{"type": "send", "text": "thanks!", "reply_to": firstID, "nonce": "2"})
	vb.expect("sent")
	r := va.danmaku(2)[1]
	q, _ := r["reply"].(map[string]any)
	if r["reply_to"] != firstID || q == nil || q["user"] != "alice" || q["id"] != firstID ||
		!strings.HasPrefix(q["excerpt"].(string), "hi @bob.b.") || !strings.HasSuffix(q["excerpt"].(string), "…") {
		t.Fatalf("reply = %v", r)
	}

	// A reply to a message of another room, or to nothing, is refused.
	vb.write(map[string]any{"type": "send", "text": "lost", "reply_to": "12345", "nonce": "3"})
	if e := vb.expect("error"); e["code"] != "reply_not_found" || e["nonce"] != "3" {
		t.Fatalf("reply to a missing message: %v", e)
	}
	vb.write(map[string]any{"type": "send", "text": "bad", "reply_to": "x1", "nonce": "4"})
	if e := vb.expect("error"); e["code"] != "bad_request" {
		t.Fatalf("reply_to not an id: %v", e)
	}
	post := bob.do("POST", "/api/rooms/otherroom/danmaku", map[string]any{"text": "cross", "reply_to": firstID})
	if post.code != 400 || post.str("code") != "reply_not_found" {
		t.Fatalf("cross-room reply over HTTP: %d %s", post.code, post.raw)
	}

	// History carries the quote and the mentions too.
	h := alice.do("GET", "/api/rooms/chatroom/danmaku", nil)
	msgs := h.body["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("history: %s", h.raw)
	}
	if hm := msgs[0].(map[string]any); len(hm["mentions"].([]any)) != 2 {
		t.Fatalf("history mentions: %v", hm)
	}
	if hr := msgs[1].(map[string]any); hr["reply"].(map[string]any)["user"] != "alice" || hr["reply_to"] != firstID {
		t.Fatalf("history reply: %v", hr)
	}

	// Deleting the quoted message blanks the quote in history.
	if r := owner.do("DELETE", "/api/rooms/chatroom/danmaku/"+firstID, nil); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	h = alice.do("GET", "/api/rooms/chatroom/danmaku", nil)
	if hr := h.body["messages"].([]any)[0].(map[string]any); hr["reply"].(map[string]any)["excerpt"] != "" || hr["reply"].(map[string]any)["user"] != "alice" {
		t.Fatalf("history after the quoted message was deleted: %v", hr)
	}

	// Notices: Bob was mentioned (Alice named herself: no notice), Alice
	// was replied to.
	got := notices.waitFor(t, 2)
	time.Sleep(200 * time.Millisecond) // nothing more may come
	got = notices.waitFor(t, 2)
	if len(got) != 2 {
		t.Fatalf("notices: %+v", got)
	}
	bobID, aliceID := userID(t, n, "Bob.B"), userID(t, n, "alice")
	if g := got[0]; g.Kind != "mention" || g.UserID != bobID || g.From != "alice" || g.Channel != "chatroom" || g.MessageID == 0 || g.Excerpt == "" {
		t.Fatalf("mention notice: %+v", g)
	}
	if g := got[1]; g.Kind != "reply" || g.UserID != aliceID || g.From != "Bob.B" || g.Excerpt != "thanks!" {
		t.Fatalf("reply notice: %+v", g)
	}
}

func userID(t *testing.T, n *testNode, name string) int64 {
	t.Helper()
	u, err := n.app.Accounts.Users.ByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestChatUserCardAndViewers: the user card shows level and badges to
// anyone, and mute/ban state only to moderators; the viewer list is for
// moderators and lists the logged-in viewers connected plus guests.
func TestChatUserCardAndViewers(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "cardhost", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "cards", "title": "Cards"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	mod, viewer := newUser(t, n, "cardmod", false), newUser(t, n, "cardviewer", false)
	if r := owner.do("POST", "/api/channels/cards/moderators", map[string]any{"username": "cardmod"}); r.code/100 != 2 {
		t.Fatalf("appoint: %d %s", r.code, r.raw)
	}
	anonB := n.browser("127.0.0.1")

	c := viewer.do("GET", "/api/channels/cards/chatters/CARDHOST", nil)
	if c.code != 200 || c.str("name") != "cardhost" || c.body["owner"] != true || c.str("channel") != "cards" || c.body["can_moderate"] != false || c.body["moderates"] != false || c.body["muted"] != nil {
		t.Fatalf("viewer's card of the owner: %d %s", c.code, c.raw)
	}
	if c := anonB.do("GET", "/api/channels/cards/chatters/cardviewer", nil); c.code != 200 || c.body["level"] == nil {
		t.Fatalf("guest's card: %d %s", c.code, c.raw)
	}
	if c := viewer.do("GET", "/api/channels/cards/chatters/nobody", nil); c.code != 404 || c.str("code") != "user_not_found" {
		t.Fatalf("unknown name: %d %s", c.code, c.raw)
	}
	if c := viewer.do("GET", "/api/channels/nowhere/chatters/cardmod", nil); c.code != 404 {
		t.Fatalf("unknown channel: %d %s", c.code, c.raw)
	}
	c = mod.do("GET", "/api/channels/cards/chatters/cardviewer", nil)
	if c.code != 200 || c.body["can_moderate"] != true || c.body["moderates"] != true || c.body["muted"] != false {
		t.Fatalf("moderator's card: %d %s", c.code, c.raw)
	}
	if r := mod.do("POST", "/api/channels/cards/mutes", map[string]any{"username": "cardviewer", "minutes": 10, "reason": "spam"}); r.code != 201 {
		t.Fatalf("mute: %d %s", r.code, r.raw)
	}
	waitCond(t, func() bool {
		return mod.do("GET", "/api/channels/cards/chatters/cardviewer", nil).body["muted"] == true
	})

	// Viewers: two accounts (one in two tabs) and a guest.
	for _, b := range []*browser{viewer, viewer, mod, nil} {
		v := n.dialWS(b)
		v.write(map[string]any{"type": "join", "room": "cards"})
		v.expect("joined")
	}
	if r := viewer.do("GET", "/api/channels/cards/viewers", nil); r.code != 403 || r.str("code") != "forbidden" {
		t.Fatalf("viewer asks for the list: %d %s", r.code, r.raw)
	}
	if r := anonB.do("GET", "/api/channels/cards/viewers", nil); r.code != 401 {
		t.Fatalf("guest asks for the list: %d %s", r.code, r.raw)
	}
	r := owner.do("GET", "/api/channels/cards/viewers", nil)
	if r.code != 200 || r.body["anonymous"] != float64(1) {
		t.Fatalf("owner's list: %d %s", r.code, r.raw)
	}
	var names []string
	for _, v := range r.body["viewers"].([]any) {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "cardmod,cardviewer" {
		t.Fatalf("viewers = %v (%s)", names, r.raw)
	}
}

func waitCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChatAcrossNodes (two processes on PostgreSQL and one NATS): the viewer
// list asked on one node lists viewers connected to both, and a reply sent
// on B to a message sent on A carries its quote and mentions to both.
func TestChatAcrossNodes(t *testing.T) {
	c := startCluster(t)
	a, b := c.a, c.b
	for _, name := range []string{"owner13", "alpha13", "beta13"} {
		if out, err := exec.Command(c.bin, "user", "create", name, "--password", name+"-password", "--streamer", "--db", c.dbURL).CombinedOutput(); err != nil {
			t.Fatalf("user create: %v %s", err, out)
		}
	}
	owner := a.browser("127.0.0.1")
	owner.login("owner13", "owner13-password")
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "spread", "title": "Spread"}); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	alpha := a.browser("127.0.0.1")
	alpha.login("alpha13", "alpha13-password")
	beta := b.browser("127.0.0.1")
	beta.login("beta13", "beta13-password")
	va, vb := a.dialWS(alpha), b.dialWS(beta)
	for _, v := range []*wsViewer{va, vb} {
		v.write(map[string]any{"type": "join", "room": "spread"})
		v.expect("joined")
	}
	guest := b.dialWS(nil)
	guest.write(map[string]any{"type": "join", "room": "spread"})
	guest.expect("joined")

	r := owner.do("GET", "/api/channels/spread/viewers", nil)
	var names []string
	for _, v := range r.body["viewers"].([]any) {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	sort.Strings(names)
	if r.code != 200 || strings.Join(names, ",") != "alpha13,beta13" || r.body["anonymous"] != float64(1) {
		t.Fatalf("viewers asked on A: %d %s", r.code, r.raw)
	}

	va.write(map[string]any{"type": "send", "text": "@BETA13 over there?", "nonce": "1"})
	id := va.expect("sent")["id"].(string)
	if m := vb.danmaku(1)[0]; len(m["mentions"].([]any)) != 1 || m["mentions"].([]any)[0] != "beta13" {
		t.Fatalf("mention seen on B: %v", m)
	}
	vb.write(map[string]any{"type": "send", "text": "yes", "reply_to": id, "nonce": "2"})
	vb.expect("sent")
	got := va.danmaku(2)[1]
	if q := got["reply"].(map[string]any); q["user"] != "alpha13" || q["excerpt"] != "@BETA13 over there?" {
		t.Fatalf("reply seen on A: %v", got)
	}
}

// TestMentionsCostNoQueryOnceKnown: a name mentioned lately (an account or
// not) is not looked up again for the next message.
func TestMentionsCostNoQueryOnceKnown(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("named")
	chatter := newUser(t, n, "namer", false)
	newUser(t, n, "namee", false)
	v := n.dialWS(chatter)
	v.write(map[string]any{"type": "join", "room": "named"})
	v.expect("joined")
	v.write(map[string]any{"type": "send", "text": "hi @namee and @nobody1", "nonce": "0"})
	v.expect("sent")
	var q queryCounter
	n.app.DB.Trace(q.saw)
	defer n.app.DB.Trace(nil)
	v.write(map[string]any{"type": "send", "text": "again @NAMEE and @nobody1", "nonce": "1"})
	v.expect("sent")
	if got := q.take(); len(got) != 0 {
		t.Fatalf("a second mention of known names read the check tables: %q", got)
	}
}

// TestMentionAndReplyReachTheBell: with the node's own wiring (no test
// hook), a mention and a reply in chat end up in the recipient's bell list
// with who wrote it and where, once each, and never for the sender.
func TestMentionAndReplyReachTheBell(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "bellhost", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "bellroom", "title": "Bell"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	carol, dave := newUser(t, n, "carol", false), newUser(t, n, "dave", false)
	vc, vd := n.dialWS(carol), n.dialWS(dave)
	vc.write(map[string]any{"type": "join", "room": "bellroom"})
	vc.expect("joined")
	vd.write(map[string]any{"type": "join", "room": "bellroom"})
	vd.expect("joined")

	vc.write(map[string]any{"type": "send", "text": "@dave are you there? and @carol", "nonce": "1"})
	vc.expect("sent")
	first := vd.danmaku(1)[0]
	vd.write(map[string]any{"type": "send", "text": "yes, here", "reply_to": first["id"], "nonce": "2"})
	vd.expect("sent")

	bell := func(u *browser, who, kind string) map[string]any {
		var found map[string]any
		waitFor(t, 15*time.Second, who+"'s "+kind+" notification", func() bool {
			r := u.do("GET", "/api/me/notifications", nil)
			list, _ := r.body["notifications"].([]any)
			for _, x := range list {
				if m := x.(map[string]any); m["kind"] == kind {
					found = m
				}
			}
			return found != nil
		})
		return found
	}
	mention := bell(dave, "dave", "mention")
	if p := mention["payload"].(map[string]any); mention["channel"] != "bellroom" || p["from"] != "carol" || !strings.Contains(p["excerpt"].(string), "are you there") {
		t.Fatalf("dave's mention: %v", mention)
	}
	reply := bell(carol, "carol", "reply")
	if p := reply["payload"].(map[string]any); reply["channel"] != "bellroom" || p["from"] != "dave" || p["excerpt"] != "yes, here" {
		t.Fatalf("carol's reply: %v", reply)
	}
	// Carol @named herself: no mention for her; each recipient got one row.
	for who, u := range map[string]*browser{"carol": carol, "dave": dave} {
		r := u.do("GET", "/api/me/notifications", nil)
		if list, _ := r.body["notifications"].([]any); len(list) != 1 {
			t.Fatalf("%s has %d notifications, want 1: %s", who, len(list), r.raw)
		}
	}
}

// TestIDsFollowWhatThisNodeHasSeen: a message made by another node whose
// clock runs ahead reaches this node only through the log (no bus header:
// this node has no viewer in the room). A reply to it posted over HTTP
// sorts after it, and so does a post made after reading it in history.
func TestIDsFollowWhatThisNodeHasSeen(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "idhost", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "idroom", "title": "Ids"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	poster := newUser(t, n, "idposter", false)
	var chID int64
	if err := n.app.DB.QueryRow(`SELECT id FROM channels WHERE slug = $1`, "idroom").Scan(&chID); err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	foreign := func(ahead time.Duration, text string) int64 {
		at := time.Now().Add(ahead).UnixMilli()
		id := (at-epoch)<<22 | 1023<<12 // node 1023's id, made on a clock running ahead
		if _, err := n.app.DB.Exec(`INSERT INTO danmaku (id, channel_id, user_id, username, level, text, color, mode, created_at, stream_offset_ms)
			VALUES ($1, $2, 1, 'elsewhere', 0, $3, '#ffffff', 'scroll', $4, -1)`, id, chID, text, at); err != nil {
			t.Fatal(err)
		}
		return id
	}
	idOf := func(r reply) int64 {
		t.Helper()
		if r.code != 201 {
			t.Fatalf("post: %d %s", r.code, r.raw)
		}
		id, err := strconv.ParseInt(r.str("id"), 10, 64)
		if err != nil {
			t.Fatalf("post id %q: %v", r.str("id"), err)
		}
		return id
	}

	first := foreign(10*time.Second, "from a node whose clock is ahead")
	answer := idOf(poster.do("POST", "/api/rooms/idroom/danmaku", map[string]any{"text": "an answer", "reply_to": strconv.FormatInt(first, 10)}))
	if answer <= first {
		t.Fatalf("the reply %d sorts before the message it answers %d", answer, first)
	}
	second := foreign(20*time.Second, "further ahead still")
	if h := poster.do("GET", "/api/rooms/idroom/danmaku", nil); h.code != 200 || !strings.Contains(h.raw, "further ahead still") {
		t.Fatalf("history: %d %s", h.code, h.raw)
	}
	if after := idOf(poster.do("POST", "/api/rooms/idroom/danmaku", map[string]any{"text": "after reading it"})); after <= second {
		t.Fatalf("a post made after reading %d in history sorts before it: %d", second, after)
	}
}
