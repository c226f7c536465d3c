package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
)

// Live is a channel of live updates that a section offers its pages. A page asks for
// channels with data-live="name:arg,…" and console.js applies the updates.
type Live struct {
	// Name is the channel's name, before the colon.
	Name string
	// Admin restricts the channel to admins.
	Admin bool
	// Events turns new events of the history into updates (nil: the channel does not follow
	// events). entries are in order, at most [liveBatch] per call: when more arrived since the
	// last call, the older ones are skipped and skipped says how many (about: sequence numbers
	// may have gaps).
	Events func(ctx context.Context, v *View, arg string, entries []sqlbus.Entry, skipped int64) ([]Update, error)
	// Topics are topics whose events the channel needs even when others are skipped (the
	// catalog's changes for its banners): their newest events after the last call are added
	// to entries, up to liveBatch each.
	Topics []string
	// Every and Tick give periodic updates (Tick nil: none).
	Every time.Duration
	Tick  func(ctx context.Context, v *View, arg string) ([]Update, error)
}

// Update is one change console.js makes to the page.
type Update struct {
	Target   string `json:"target"`             // CSS selector of the element to change
	Position string `json:"position,omitempty"` // "afterbegin" (default), "beforeend" or "replace"
	HTML     string `json:"html"`               // server-rendered HTML
	Show     string `json:"show,omitempty"`     // CSS selector of an element to unhide
	Announce string `json:"announce,omitempty"` // said by screen readers (a polite live region)
}

// Tail is what the live stream reads new events from: the event history.
type Tail interface {
	Last(ctx context.Context) (int64, error)
	After(ctx context.Context, after int64, limit int) ([]sqlbus.Entry, error)
	Recent(ctx context.Context, topic string, before int64, limit int) ([]sqlbus.Entry, error)
}

const (
	// liveBatch bounds the events a stream reads and shows per poll: nobody reads more than
	// a screenful a second, and under a flood of webhooks the console must not take the CPU
	// that ingestion needs. A stream further behind skips ahead to the newest.
	liveBatch = 20
	// livePoll is how often a stream looks for new events.
	livePoll = time.Second
	// livePing keeps proxies from closing an idle stream.
	livePing = 15 * time.Second
	// liveWriteTimeout drops a client that stops reading.
	liveWriteTimeout = 10 * time.Second
	// liveLifetime ends a stream, which the browser opens again (resuming with
	// Last-Event-ID): so that a signed-out or expired session stops receiving within it.
	liveLifetime = 5 * time.Minute
	// liveChannels bounds the channels of one stream.
	liveChannels = 4
)

// liveLimiter caps open streams: console.maxStreams in all, perUser for one person.
type liveLimiter struct {
	mu      sync.Mutex
	max     int
	perUser int
	open    map[string]int
	total   int
}

func (l *liveLimiter) acquire(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.open[user] >= l.perUser {
		return false
	}
	l.total++
	l.open[user]++
	return true
}

func (l *liveLimiter) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.open[user]--; l.open[user] == 0 {
		delete(l.open, user)
	}
}

// liveRoute is GET /live?ch=…: server-sent events for the channels asked for. It answers a
// refused request with a JSON 401 (EventSource cannot follow a redirect to sign in).
func (c *Console) liveRoute() httpserver.Route {
	return httpserver.Route{Method: http.MethodGet, Path: "/live", Auth: httpserver.RequireCredentials, Handler: securityHeaders(http.HandlerFunc(c.serveLive))}
}

type subscription struct {
	live Live
	arg  string
}

func (c *Console) serveLive(w http.ResponseWriter, r *http.Request) {
	v := c.view(r, httpserver.PrincipalFromContext(r.Context()))
	var subs []subscription
	asked := strings.Split(r.URL.Query().Get("ch"), ",")
	seen := map[string]bool{}
	for _, ch := range asked {
		name, arg, _ := strings.Cut(ch, ":")
		l, ok := c.live[name]
		switch {
		case len(asked) > liveChannels:
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "ch: at most %d channels a stream", liveChannels))
			return
		case seen[ch]:
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "ch: channel %q is asked for twice", ch))
			return
		case !ok:
			httpserver.WriteError(w, r, httpserver.Errorf(http.StatusBadRequest, "ch: no live channel %q", name))
			return
		case l.Admin && !v.Admin:
			httpserver.WriteError(w, r, &httpserver.Error{Status: http.StatusForbidden, Name: "NotAllowedError", Message: "channel " + name + " is for admins"})
			return
		}
		seen[ch] = true
		subs = append(subs, subscription{live: l, arg: arg})
	}
	if !c.streams.acquire(v.Principal.Subject) {
		httpserver.WriteError(w, r, httpserver.Errorf(http.StatusServiceUnavailable, "too many live streams are open; close some console tabs"))
		return
	}
	defer c.streams.release(v.Principal.Subject)
	s := &stream{w: w, rc: http.NewResponseController(w), log: zerolog.Ctx(r.Context())}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !s.send("retry: 3000\n\n") {
		return
	}
	c.follow(r, v, s, subs)
}

// follow sends updates until the client leaves, the server stops or a write fails.
func (c *Console) follow(r *http.Request, v *View, s *stream, subs []subscription) {
	ctx := r.Context()
	var last int64
	var err error
	followsEvents := false
	var topics []string
	ticks := map[int]time.Time{}
	for i, sub := range subs {
		followsEvents = followsEvents || sub.live.Events != nil
		topics = append(topics, sub.live.Topics...)
		ticks[i] = time.Now().Add(sub.live.Every)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if id, perr := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); perr == nil && id > 0 {
		last = id // a reconnect resumes where it left off
	} else if followsEvents {
		if last, err = c.tail.Last(ctx); err != nil {
			s.log.Warn().Err(err).Msg("live: cannot read the event history")
		}
	}
	poll := time.NewTicker(livePoll)
	defer poll.Stop()
	end := time.NewTimer(liveLifetime)
	defer end.Stop()
	lastSent := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-httpserver.Stopping(ctx):
			return
		case <-end.C:
			return
		case now := <-poll.C:
			if followsEvents {
				entries, skipped, err := c.newEvents(ctx, last, topics)
				if err != nil {
					s.log.Warn().Err(err).Msg("live: cannot read the event history")
				} else if len(entries) > 0 {
					last = entries[len(entries)-1].Seq
					for _, sub := range subs {
						if sub.live.Events == nil {
							continue
						}
						ups, err := sub.live.Events(ctx, v, sub.arg, entries, skipped)
						wrote, ok := s.updates(ups, err, last)
						if !ok {
							return
						}
						if wrote {
							lastSent = now
						}
					}
				}
			}
			for i, sub := range subs {
				if sub.live.Tick == nil || now.Before(ticks[i]) {
					continue
				}
				ticks[i] = now.Add(sub.live.Every)
				ups, err := sub.live.Tick(ctx, v, sub.arg)
				wrote, ok := s.updates(ups, err, last)
				if !ok {
					return
				}
				if wrote {
					lastSent = now
				}
			}
			if now.Sub(lastSent) >= livePing {
				if !s.send(": ping\n\n") {
					return
				}
				lastSent = now
			}
		}
	}
}

// newEvents returns the events after last, at most liveBatch of the newest, and how many
// older ones it skipped; when it skips, the newest events of topics after last are added, in
// order.
func (c *Console) newEvents(ctx context.Context, last int64, topics []string) ([]sqlbus.Entry, int64, error) {
	newest, err := c.tail.Last(ctx)
	if err != nil || newest <= last {
		return nil, 0, err
	}
	from := last
	var skipped int64
	if newest-last > liveBatch {
		skipped, from = newest-last-liveBatch, newest-liveBatch
	}
	entries, err := c.tail.After(ctx, from, liveBatch)
	if err != nil || skipped == 0 {
		return entries, skipped, err
	}
	for _, topic := range topics {
		recent, err := c.tail.Recent(ctx, topic, from+1, liveBatch)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range recent {
			if e.Seq > last {
				entries = append(entries, e)
			}
		}
	}
	slices.SortFunc(entries, func(a, b sqlbus.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return entries, skipped, nil
}

// stream writes server-sent events with a deadline per write.
type stream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	log *zerolog.Logger
}

// updates sends ups as "html" events carrying id last; an error from the channel is logged
// and skipped. It reports whether it wrote anything, and false in ok when the client is gone.
func (s *stream) updates(ups []Update, err error, last int64) (wrote, ok bool) {
	if err != nil {
		s.log.Warn().Err(err).Msg("live: a channel failed to render its update")
		return false, true
	}
	var b strings.Builder
	for _, u := range ups {
		data, err := json.Marshal(u)
		if err != nil {
			return false, true
		}
		fmt.Fprintf(&b, "id: %d\nevent: html\ndata: %s\n\n", last, data)
	}
	if b.Len() == 0 {
		return false, true
	}
	return true, s.send(b.String())
}

func (s *stream) send(text string) bool {
	// The deadline replaces the server's write timeout, which would end any stream.
	if err := s.rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout)); err != nil {
		return false
	}
	if _, err := s.w.Write([]byte(text)); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}
