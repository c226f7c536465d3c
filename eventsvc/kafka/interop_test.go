package kafka_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
)

// kcat returns the path of kcat (Debian package kcat; scripts/services installs it), or skips
// — fails under PLATFORM_REQUIRE_REAL_SERVICES=1.
func kcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Missing(t, "kcat is not installed: scripts/services up installs it")
	}
	return p
}

// TestInterop checks both directions with a Kafka client that is not ours: kcat reads an
// event Stagebus published, CloudEvents headers and metadata included, and a record kcat
// produced reaches a Stagebus subscription with its key and headers.
func TestInterop(t *testing.T) {
	bin := kcat(t)
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(c.brokers)
			got := make(chan eventsvc.Event, 1)
			svc := service(t, cfg, eventsvc.Subscription{ID: "from-kcat", Topics: []string{"inbound"}, Handler: func(_ context.Context, e eventsvc.Event) error {
				got <- e
				return nil
			}})
			broker := strings.Join(c.brokers, ",")
			at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

			require.NoError(t, svc.Publish(context.Background(), eventsvc.Event{
				ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Topic: "github.push", Key: "acme/widgets", Time: at,
				Payload: []byte(`{"ref":"refs/heads/main"}`), Metadata: map[string]string{"X-GitHub-Event": "push"},
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-b", broker, "-C", "-t", cfg.TopicPrefix+"github.push", "-o", "beginning", "-e", "-q",
				"-f", "key=%k\npayload=%s\nheaders=%h\n").CombinedOutput()
			require.NoError(t, err, string(out))
			text := string(out)
			for _, want := range []string{
				"key=acme/widgets",
				`payload={"ref":"refs/heads/main"}`,
				"ce_specversion=1.0",
				"ce_id=72d3162e-cc78-11e3-81ab-4c9367dc0958",
				"ce_source=/stagebus/github.push",
				"ce_type=dev.stagebus.github.push",
				"ce_time=2026-11-26T12:00:00Z",
				"X-GitHub-Event=push",
				"correlation_id=72d3162e-cc78-11e3-81ab-4c9367dc0958",
				"traceparent=00-",
			} {
				require.Contains(t, text, want)
			}

			// The other direction: kcat produces, Stagebus consumes.
			produce := exec.CommandContext(ctx, bin, "-b", broker, "-P", "-t", cfg.TopicPrefix+"inbound", "-k", "repo-1",
				"-H", "X-Source=kcat", "-X", "partitioner=murmur2_random")
			produce.Stdin = strings.NewReader(`{"hello":"stagebus"}` + "\n")
			out, err = produce.CombinedOutput()
			require.NoError(t, err, string(out))
			select {
			case e := <-got:
				require.Equal(t, "repo-1", e.Key)
				require.Equal(t, `{"hello":"stagebus"}`, string(e.Payload))
				require.Equal(t, "kcat", e.Metadata["X-Source"])
				require.True(t, strings.HasPrefix(e.ID, "kafka:"+cfg.TopicPrefix+"inbound:"), e.ID)
			case <-time.After(30 * time.Second):
				t.Fatal("the record produced by kcat did not reach the subscription")
			}
			stop(t, svc)
		})
	}
}
