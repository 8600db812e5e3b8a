package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/moderation/filter"
)

// addTerm puts a term on a channel's list (slug) or the platform's ("")
// and waits until the engine applies it (lists reload through the bus).
func addTerm(t *testing.T, n *testNode, as *browser, slug, term, action, category string) {
	t.Helper()
	path := "/api/admin/moderation/terms"
	if slug != "" {
		path = "/api/channels/" + slug + "/moderation/terms"
	}
	body := map[string]any{"term": term, "action": action, "category": category}
	var code int
	if as == nil {
		code = n.api("POST", path, testAdminToken, body, nil)
	} else {
		r := as.do("POST", path, body)
		code = r.code
	}
	if code != 201 && code != 200 {
		t.Fatalf("add term %q: %d", term, code)
	}
	waitFor(t, 5*time.Second, "the term "+term+" to apply", func() bool {
		v := n.app.ContentFilter.Check(context.Background(), filter.Input{ChannelID: channelIDOf(t, n, slug), Text: term, Level: 3, Kind: "chat"})
		return v.Action != filter.Allow
	})
}

func channelIDOf(t *testing.T, n *testNode, slug string) int64 {
	t.Helper()
	if slug == "" {
		return 0
	}
	id, _, err := n.app.Channels.ChannelOwner(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// event waits for a batch event of type typ matching ok.
func (v *wsViewer) event(typ string, ok func(map[string]any) bool) map[string]any {
	v.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, open := <-v.frames:
			if !open {
				v.t.Fatalf("closed while waiting for a %s event", typ)
			}
			if f["type"] != "batch" {
				continue
			}
			for _, e := range f["events"].([]any) {
				if ev := e.(map[string]any); ev["type"] == typ && ok(ev) {
					return ev
				}
			}
		case <-timeout:
			v.t.Fatalf("no %s event within 5 s", typ)
		}
	}
}

// TestModerationVerdictRouting: allow, hide, hold and block over the
// WebSocket and HTTP — a hidden message carries its score; a held one
// reaches nobody until a moderator approves it, its sender hears the
// decision; deny-and-mute mutes; a blocked one tells its sender the
// category and can be appealed; the queues keep the filter's reasons.
func TestModerationVerdictRouting(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "mqowner", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "mqroom", "title": "Moderated"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	sender := newUser(t, n, "mqsender", false)
	other := newUser(t, n, "mqother", false)

	// Off: the filter screens at level 0 (the keyword filter then allows).
	sws := n.dialWS(sender)
	sws.write(map[string]any{"type": "join", "room": "mqroom"})
	sws.expect("joined")
	addTerm(t, n, owner, "mqroom", "holdme", "hold", "abuse")
	addTerm(t, n, owner, "mqroom", "blockme", "block", "hate")
	sws.write(map[string]any{"type": "send", "text": "blockme while off", "nonce": "0"})
	sws.expect("sent") // the channel's filter is off: its own terms rest
	if r := sender.do("PUT", "/api/channels/mqroom/moderation/filter", map[string]any{"enabled": true, "level": 3}); r.code != 403 {
		t.Fatalf("a viewer set the filter: %d", r.code)
	}
	if r := owner.do("PUT", "/api/channels/mqroom/moderation/filter", map[string]any{"enabled": true, "level": 9}); r.code != 400 || r.str("code") != "bad_level" {
		t.Fatalf("level 9: %d %s", r.code, r.raw)
	}
	if r := owner.do("PUT", "/api/channels/mqroom/moderation/filter", map[string]any{"enabled": true, "level": 3}); r.code != 200 {
		t.Fatalf("turn the filter on: %d %s", r.code, r.raw)
	}
	if r := sender.do("POST", "/api/channels/mqroom/check-message", map[string]string{"text": "b.l.o.c.k.m.e"}); r.code != 403 || r.str("code") != "message_blocked" {
		t.Fatalf("check-message after turning the filter on (an evasion): %d %s", r.code, r.raw)
	}

	viewer := n.dialWS(nil)
	viewer.write(map[string]any{"type": "join", "room": "mqroom"})
	viewer.expect("joined")

	// allow and hide
	sws.write(map[string]any{"type": "send", "text": "hello all", "nonce": "1"})
	sws.expect("sent")
	if ev := viewer.event("danmaku", func(e map[string]any) bool { return e["text"] == "hello all" }); ev["score"] != nil && ev["score"].(float64) >= 35 {
		t.Fatalf("a plain message scored high: %v", ev)
	}
	// A long number is a spam sign the level-3 channel hides (score 60).
	sws.write(map[string]any{"type": "send", "text": "my lucky number is 24681357", "nonce": "2"})
	sws.expect("sent")
	if ev := viewer.event("danmaku", func(e map[string]any) bool { return e["text"] == "my lucky number is 24681357" }); ev["score"] != float64(60) {
		t.Fatalf("a hidden message's score: %v", ev)
	}
	if r := owner.do("GET", "/api/rooms/mqroom/danmaku", nil); !strings.Contains(string(r.raw), `"score":60`) {
		t.Fatalf("history lost the score: %s", r.raw)
	}
	if r := owner.do("GET", "/api/channels/mqroom/moderation/verdicts?action=hide", nil); !strings.Contains(string(r.raw), `"rule":"long-number"`) {
		t.Fatalf("the hide verdict's reasons: %s", r.raw)
	}

	// hold over the WebSocket: nobody sees it; the moderator's queue has it
	sws.write(map[string]any{"type": "send", "text": "holdme one", "nonce": "3"})
	held := sws.expect("held")
	ticket, _ := held["ticket"].(string)
	if held["nonce"] != "3" || len(ticket) < 16 {
		t.Fatalf("held ack: %v", held)
	}
	if r := sender.do("GET", "/api/channels/mqroom/moderation/verdicts?action=hold&pending=1", nil); r.code != 403 {
		t.Fatalf("a viewer read the held queue: %d", r.code)
	}
	q := owner.do("GET", "/api/channels/mqroom/moderation/verdicts?action=hold&pending=1", nil)
	list, _ := q.body["verdicts"].([]any)
	if q.code != 200 || len(list) != 1 {
		t.Fatalf("held queue: %d %s", q.code, q.raw)
	}
	first := list[0].(map[string]any)
	if first["text"] != "holdme one" || first["username"] != "mqsender" || first["category"] != "abuse" || !strings.Contains(string(q.raw), `"rule":"holdme"`) || !strings.Contains(string(q.raw), `"source":"term"`) {
		t.Fatalf("held verdict: %s", q.raw)
	}
	id := first["id"].(string)
	if r := owner.do("POST", "/api/channels/mqroom/moderation/verdicts/"+id, map[string]any{"decision": "approve"}); r.code != 200 || r.str("decision") != "approved" {
		t.Fatalf("approve: %d %s", r.code, r.raw)
	}
	if ev := viewer.event("danmaku", func(e map[string]any) bool { return e["text"] == "holdme one" }); ev["user"] != "mqsender" || ev["score"] != nil {
		t.Fatalf("approved message: %v", ev)
	}
	if ev := sws.event("review", func(e map[string]any) bool { return e["ticket"] == ticket }); ev["decision"] != "approved" {
		t.Fatalf("review event: %v", ev)
	}
	if r := owner.do("POST", "/api/channels/mqroom/moderation/verdicts/"+id, map[string]any{"decision": "deny"}); r.code != 409 || r.str("code") != "already_decided" {
		t.Fatalf("second decision: %d %s", r.code, r.raw)
	}

	// hold over HTTP, then deny and mute
	r := sender.do("POST", "/api/rooms/mqroom/danmaku", map[string]string{"text": "holdme two"})
	if r.code != 202 || r.body["held"] != true || r.str("ticket") == "" {
		t.Fatalf("HTTP hold: %d %s", r.code, r.raw)
	}
	ticket2 := r.str("ticket")
	q = owner.do("GET", "/api/channels/mqroom/moderation/verdicts?action=hold&pending=1", nil)
	list, _ = q.body["verdicts"].([]any)
	if len(list) != 1 {
		t.Fatalf("held queue after HTTP: %s", q.raw)
	}
	id2 := list[0].(map[string]any)["id"].(string)
	if r := owner.do("POST", "/api/channels/mqroom/moderation/verdicts/"+id2, map[string]any{"decision": "deny_mute", "minutes": 5}); r.code != 200 {
		t.Fatalf("deny and mute: %d %s", r.code, r.raw)
	}
	if ev := sws.event("review", func(e map[string]any) bool { return e["ticket"] == ticket2 }); ev["decision"] != "denied_muted" {
		t.Fatalf("deny review event: %v", ev)
	}
	if r := sender.do("GET", "/api/moderation/tickets/"+ticket2, nil); r.code != 200 || r.str("decision") != "denied_muted" || r.str("action") != "hold" {
		t.Fatalf("the sender's ticket: %d %s", r.code, r.raw)
	}
	if r := other.do("GET", "/api/moderation/tickets/"+ticket2, nil); r.code != 404 {
		t.Fatalf("someone else's ticket: %d %s", r.code, r.raw)
	}
	waitFor(t, 5*time.Second, "the mute to reach the room", func() bool {
		r := sender.do("POST", "/api/rooms/mqroom/danmaku", map[string]string{"text": fmt.Sprint("still here ", time.Now().UnixNano())})
		return r.code == 403 && r.str("reason") == "muted"
	})

	// block: WebSocket error frame and HTTP 403 with the category, never the term
	ows := n.dialWS(other)
	ows.write(map[string]any{"type": "join", "room": "mqroom"})
	ows.expect("joined")
	ows.write(map[string]any{"type": "send", "text": "blockme now", "nonce": "9"})
	f := ows.expect("error")
	if f["code"] != "message_blocked" || f["category"] != "hate" || f["ticket"] == "" || strings.Contains(fmt.Sprint(f["message"]), "blockme") {
		t.Fatalf("blocked frame: %v", f)
	}
	r = other.do("POST", "/api/rooms/mqroom/danmaku", map[string]string{"text": "blockme again"})
	if r.code != 403 || r.str("code") != "message_blocked" || r.str("category") != "hate" || r.str("ticket") == "" {
		t.Fatalf("HTTP block: %d %s", r.code, r.raw)
	}
	if r := other.do("POST", "/api/channels/mqroom/check-message", map[string]string{"text": "blockme"}); r.code != 403 || r.str("code") != "message_blocked" {
		t.Fatalf("check-message: %d %s", r.code, r.raw)
	}
	// The owner is never screened.
	if r := owner.do("POST", "/api/rooms/mqroom/danmaku", map[string]string{"text": "blockme from the owner"}); r.code != 201 {
		t.Fatalf("owner screened: %d %s", r.code, r.raw)
	}

	// appeal: only the sender, once; the owner upholds it
	if r := sender.do("POST", "/api/moderation/appeals", map[string]string{"ticket": f["ticket"].(string)}); r.code != 400 || r.str("code") != "not_appealable" {
		t.Fatalf("someone else's appeal: %d %s", r.code, r.raw)
	}
	if r := other.do("POST", "/api/moderation/appeals", map[string]string{"ticket": f["ticket"].(string), "reason": "a quote"}); r.code != 201 {
		t.Fatalf("appeal: %d %s", r.code, r.raw)
	}
	if r := other.do("POST", "/api/moderation/appeals", map[string]string{"ticket": f["ticket"].(string)}); r.code != 409 {
		t.Fatalf("second appeal: %d %s", r.code, r.raw)
	}
	a := owner.do("GET", "/api/channels/mqroom/moderation/appeals?status=open", nil)
	appeals, _ := a.body["appeals"].([]any)
	if len(appeals) != 1 || !strings.Contains(string(a.raw), "blockme now") {
		t.Fatalf("appeals queue: %s", a.raw)
	}
	aid := appeals[0].(map[string]any)["id"].(string)
	if r := owner.do("POST", "/api/channels/mqroom/moderation/appeals/"+aid, map[string]string{"decision": "uphold"}); r.code != 200 || r.str("status") != "upheld" {
		t.Fatalf("uphold: %d %s", r.code, r.raw)
	}
	if r := owner.do("GET", "/api/channels/mqroom/moderation/verdicts?action=block", nil); len(r.body["verdicts"].([]any)) != 2 {
		t.Fatalf("blocked list: %s", r.raw)
	}
	if v := metric(t, n, "livehouse_moderation_screened_total"); v < 8 {
		t.Fatalf("screened_total = %v", v)
	}
}

// TestModerationNamesAndTitles: usernames, medal names, channel titles and
// report reasons pass the same filter at creation: a blocked or held name
// is refused (choose another), a blocked title is refused and a held one
// saved and queued for admins, a blocked report reason is refused.
func TestModerationNamesAndTitles(t *testing.T) {
	n := startNode(t, "")
	addTerm(t, n, nil, "", "holdme", "hold", "abuse")
	addTerm(t, n, nil, "", "blockme", "block", "hate")
	b := n.browser("127.0.0.1")
	if r := b.signup("blockme1", "a-long-password-1"); r.code != 400 || r.str("code") != "name_not_allowed" {
		t.Fatalf("blocked username: %d %s", r.code, r.raw)
	}
	if r := b.signup("holdme1", "a-long-password-1"); r.code != 400 || r.str("code") != "name_not_allowed" {
		t.Fatalf("held username: %d %s", r.code, r.raw)
	}
	if r := b.signup("plainname", "a-long-password-1"); r.code != 201 && r.code != 200 {
		t.Fatalf("plain username: %d %s", r.code, r.raw)
	}
	owner := newUser(t, n, "ntowner", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "ntroom", "title": "blockme stream"}); r.code != 400 || r.str("code") != "title_not_allowed" {
		t.Fatalf("blocked title at creation: %d %s", r.code, r.raw)
	}
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "ntroom", "title": "Fine stream"}); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := owner.do("PATCH", "/api/channels/ntroom", map[string]any{"title": "holdme stream"}); r.code != 200 || r.str("title") != "holdme stream" {
		t.Fatalf("held title: %d %s", r.code, r.raw)
	}
	var q struct {
		Verdicts []moderation.VerdictRecord `json:"verdicts"`
	}
	if code := n.api("GET", "/api/admin/moderation/verdicts?kind=title&pending=1", testAdminToken, nil, &q); code != 200 || len(q.Verdicts) != 1 ||
		q.Verdicts[0].Text != "holdme stream" || q.Verdicts[0].ChannelID == 0 || q.Verdicts[0].Username != "ntowner" {
		t.Fatalf("admin's title queue: %d %+v", code, q)
	}
	if r := owner.do("PUT", "/api/channels/ntroom/medal", map[string]any{"name": "blockme"}); r.code != 400 || r.str("code") != "name_not_allowed" {
		t.Fatalf("blocked medal name: %d %s", r.code, r.raw)
	}
	viewer := newUser(t, n, "ntviewer", false)
	if r := viewer.do("POST", "/api/reports", map[string]any{"username": "ntowner", "channel": "ntroom", "reason": "blockme you"}); r.code != 403 || r.str("code") != "message_blocked" {
		t.Fatalf("blocked report reason: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/reports", map[string]any{"username": "ntowner", "channel": "ntroom", "reason": "they said rude things"}); r.code != 201 {
		t.Fatalf("report: %d %s", r.code, r.raw)
	}
}
