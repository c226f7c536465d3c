package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// TestRouterRoutesOnlyKnownNames: only documented names and the configured extras get a
// sub-topic; anything else, however many distinct names a sender invents, is skipped with one
// debug line that clips the name and shows no header values.
func TestRouterRoutesOnlyKnownNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		event     string
		extra     []string
		wantTopic string // "" when nothing is routed
		wantMsg   string
		wantClip  bool
	}{
		{name: "documented", event: "push", wantTopic: "src.push"},
		{name: "configured extra", event: "brand_new", extra: []string{"brand_new"}, wantTopic: "src.brand_new"},
		{name: "invented", event: "evil000", wantMsg: "event not routed: its event name is not one the provider documents nor one listed in subTopics"},
		{name: "invented, with an extra configured", event: "evil001", extra: []string{"brand_new"}, wantMsg: "event not routed: its event name is not one the provider documents nor one listed in subTopics"},
		{name: "no name", wantMsg: "event not routed: it has no event name"},
		{name: "not a topic", event: "push hook", wantMsg: "event not routed: its event name is not one the provider documents nor one listed in subTopics"},
		{name: "huge name", event: strings.Repeat("é", 5000), wantMsg: "event not routed: its event name is not one the provider documents nor one listed in subTopics", wantClip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			bus := &eventsvctest.Recorder{Logger: zerolog.New(&logs)}
			sub := webhook.Router("r", "src", bus, webhook.FromMetadata("x-event"), webhook.Known([]string{"push", "pull_request"}, tt.extra...))
			e := eventsvc.Event{ID: "e-1", Topic: "src", Payload: []byte(`{}`), Metadata: map[string]string{"x-event": tt.event, "x-signature": "sha256=secretish"}}
			require.NoError(t, bus.Deliver(context.Background(), sub, e), "a skipped event is not retried")
			if tt.wantTopic != "" {
				require.Len(t, bus.Published(), 1)
				require.Equal(t, tt.wantTopic, bus.Published()[0].Topic)
				return
			}
			require.Empty(t, bus.Published())
			var entry map[string]any
			require.NoError(t, json.Unmarshal(logs.Bytes(), &entry), logs.String())
			require.Equal(t, "debug", entry["level"], "a sender can send any number of these: no warning per event")
			require.Equal(t, tt.wantMsg, entry["message"])
			require.Equal(t, "e-1", entry["event_id"])
			require.NotContains(t, logs.String(), "secretish")
			if tt.wantClip {
				require.LessOrEqual(t, len(entry["event_name"].(string)), 110)
			}
		})
	}
}

func TestFromHeader(t *testing.T) {
	t.Parallel()
	name := webhook.FromHeader("X-First", "X-Second")
	h := http.Header{}
	require.Empty(t, name(h, nil))
	h.Set("X-Second", "b")
	require.Equal(t, "b", name(h, nil))
	h.Add("X-First", "a")
	h.Add("X-First", "evil")
	require.Equal(t, "a, evil", name(h, nil), "read as the ingress writes the metadata the router reads")
}

func TestRouterParamsSubTopics(t *testing.T) {
	t.Parallel()
	require.Empty(t, webhook.RouterParams{}.SubTopics("github"), "without events.http")
	p := webhook.RouterParams{HTTP: ingress.Config{TopicOptions: map[string]ingress.TopicOptions{"github": {SubTopics: []string{"new_event"}}}}}
	require.Equal(t, []string{"new_event"}, p.SubTopics("github"))
	require.Empty(t, p.SubTopics("gitea"))
}

func TestClip(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", webhook.Clip("short"))
	long := "a" + strings.Repeat("é", 100)
	c := webhook.Clip(long)
	require.True(t, strings.HasSuffix(c, "…"))
	require.True(t, strings.HasPrefix(long, strings.TrimSuffix(c, "…")), "cut on a rune boundary")
	require.LessOrEqual(t, len(strings.TrimSuffix(c, "…")), 100)
}

func TestHMAC(t *testing.T) {
	t.Parallel()
	require.Nil(t, webhook.HMAC([]string{"X-Sig"}, "", nil))
	require.Equal(t, ingress.HMACVerifier{Headers: []string{"X-Sig"}, Prefix: "p=", Encoding: ingress.Hex, Secrets: ingress.Secrets{"s"}},
		webhook.HMAC([]string{"X-Sig"}, "p=", ingress.Secrets{"s"}))
}

func TestString(t *testing.T) {
	t.Parallel()
	p := []byte(`{"a":{"b":"c","n":1,"z":null}}`)
	require.Equal(t, "c", webhook.String(p, "a.b"))
	require.Empty(t, webhook.String(p, "a.n"))
	require.Empty(t, webhook.String(p, "a.z"))
	require.Empty(t, webhook.String(p, "a.missing"))
}
