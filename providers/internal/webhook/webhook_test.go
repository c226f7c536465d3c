package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// TestRouterLogsWhatItSkips: a skipped event is one warning with a constant message, the
// sub-topic clipped, and no header values besides.
func TestRouterLogsWhatItSkips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		event    string
		wantMsg  string
		wantClip bool
	}{
		{name: "no name", wantMsg: "event not routed: it has no event name"},
		{name: "invalid name", event: "push hook", wantMsg: "event not routed: its event name does not make a valid topic"},
		{name: "huge name", event: strings.Repeat("é", 5000), wantMsg: "event not routed: its event name does not make a valid topic", wantClip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			bus := &eventsvctest.Recorder{Logger: zerolog.New(&logs)}
			sub := webhook.Router("r", "src", bus, webhook.FromMetadata("x-event"))
			e := eventsvc.Event{ID: "e-1", Topic: "src", Payload: []byte(`{}`), Metadata: map[string]string{"x-event": tt.event, "x-signature": "sha256=secretish"}}
			require.NoError(t, bus.Deliver(context.Background(), sub, e))
			require.Empty(t, bus.Published())
			var entry map[string]any
			require.NoError(t, json.Unmarshal(logs.Bytes(), &entry), logs.String())
			require.Equal(t, "warn", entry["level"])
			require.Equal(t, tt.wantMsg, entry["message"])
			require.Equal(t, "e-1", entry["event_id"])
			require.NotContains(t, logs.String(), "secretish")
			if tt.wantClip {
				require.LessOrEqual(t, len(entry["sub_topic"].(string)), 110)
			}
		})
	}
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
