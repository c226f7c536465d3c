package webhook_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/providertest"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// TestFromHeaderThroughTheIngress: a source whose EventName is FromHeader gets the sub-topic
// <topic>.<header> from the ingress, for documented names and the configured extras only, and
// the name is the header value its events carry in their metadata; any other name, however
// many distinct names a sender invents, stays on the topic, marked event_name_unknown.
func TestFromHeaderThroughTheIngress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		headers   []string // name, value pairs, added in order
		extra     []string // subTopics
		wantTopic string   // "" for no sub-topic
		unknown   bool
	}{
		{name: "documented", headers: []string{"X-Event", "push"}, wantTopic: "src.push"},
		{name: "configured extra", headers: []string{"X-Event", "brand_new"}, extra: []string{"brand_new"}, wantTopic: "src.brand_new"},
		{name: "the second header when the first is absent", headers: []string{"X-Fallback", "pull_request"}, wantTopic: "src.pull_request"},
		{name: "the second header when the first is empty", headers: []string{"X-Event", "", "X-Fallback", "pull_request"}, wantTopic: "src.pull_request"},
		{name: "the first header before the second", headers: []string{"X-Fallback", "pull_request", "X-Event", "push"}, wantTopic: "src.push"},
		{name: "invented", headers: []string{"X-Event", "evil000"}, unknown: true},
		{name: "invented, with an extra configured", headers: []string{"X-Event", "evil001"}, extra: []string{"brand_new"}, unknown: true},
		{name: "repeated: the joined value is the name", headers: []string{"X-Event", "push", "X-Event", "pull_request"}, unknown: true},
		{name: "no name", headers: []string{"X-Other", "push"}},
		{name: "not a topic", headers: []string{"X-Event", "push hook"}, unknown: true},
		{name: "huge name", headers: []string{"X-Event", strings.Repeat("é", 5000)}, unknown: true},
	}
	const secret = "webhook-test-secret"
	body := []byte(`{}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := ingress.Source{
				Topic:            "src",
				Verifier:         webhook.HMAC([]string{"X-Sig"}, "sha256=", ingress.Secrets{secret}),
				EventName:        webhook.FromHeader("X-Event", "X-Fallback"),
				EventNameSource:  ingress.FromUnsignedHeader,
				KnownEvents:      []string{"push", "pull_request"},
				SignatureHeaders: []string{"X-Sig"},
			}
			in := providertest.NewIngressWithSubTopics(t, map[string][]string{"src": tt.extra}, src)
			h := providertest.Header("X-Sig", "sha256="+providertest.HMACHex(secret, body))
			for i := 0; i+1 < len(tt.headers); i += 2 {
				h.Add(tt.headers[i], tt.headers[i+1])
			}
			events := in.Accept(t, "src", h, body)
			if tt.wantTopic == "" {
				providertest.RequireNoSubTopic(t, events, "src", tt.unknown)
				return
			}
			_, sub := providertest.RequireSubTopic(t, events, "src", tt.wantTopic, ingress.FromUnsignedHeader)
			name := strings.TrimPrefix(tt.wantTopic, "src.")
			require.Contains(t, []string{sub.Metadata["x-event"], sub.Metadata["x-fallback"]}, name, "the name is a header value the event carries")
			require.NotContains(t, sub.Metadata, "x-sig")
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
	require.Equal(t, "a, evil", name(h, nil), "joined as the ingress joins the header in the metadata")
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
