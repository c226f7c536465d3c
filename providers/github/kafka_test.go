package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/eventsvc/kafka"
	"github.com/stagebus/stagebus/eventsvc/kafka/kafkatest"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/providers/github"
)

// TestPushOnRealKafka: on a real broker, a signed GitHub push lands on <topicPrefix>github.push
// with ce_id = the delivery id, as kcat reads it. With the broker stopped, ingestion through
// the outbox (the default) answers 202 and the push reaches Kafka once the broker is back;
// publishing straight to Kafka (events.kafka.outbox false) answers 503 with Retry-After.
func TestPushOnRealKafka(t *testing.T) {
	broker := kafkatest.Start(t)
	kcat, err := exec.LookPath("kcat")
	require.NoError(t, err, "scripts/services installs kcat")
	tests := []struct {
		name   string
		outbox bool
	}{
		{"outbox", true},
		{"direct", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { pushOnRealKafka(t, broker, kcat, tt.outbox) })
	}
}

func pushOnRealKafka(t *testing.T, broker *kafkatest.Broker, kcat string, outbox bool) {
	prefix := "e2e-" + uuid.NewString()[:8] + "."
	const secret = "kafka-e2e-secret"
	var srv *httpserver.Server
	app := fxtest.New(t,
		fx.Supply(configtest.Tree(t, `
backend:
  listen:
    port: 0
  database:
    connection: ':memory:'
events:
  bus: kafka
  kafka:
    brokers: [`+strings.Join(broker.Brokers, ", ")+`]
    topicPrefix: `+prefix+`
    groupPrefix: `+prefix+`
    publishTimeout: 3s
    outbox: `+strconv.FormatBool(outbox)+`
  http:
    topics: [github]
  modules:
    github:
      webhookSecret: `+secret+`
`)),
		config.Module, fx.Supply(zerolog.Nop()), httpserver.Module, database.Module,
		eventsvc.Module, kafka.Module, sqlbus.Module, deadletter.Module, ingress.Module, github.Module,
		fx.Populate(&srv),
	)
	app.RequireStart()
	defer app.RequireStop()

	body, err := os.ReadFile("testdata/push.json")
	require.NoError(t, err)
	post := func(delivery string) *httptest.ResponseRecorder {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		r := httptest.NewRequest(http.MethodPost, "/api/events/http/github", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", delivery)
		r.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w
	}

	delivery := uuid.NewString()
	w := post(delivery)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())

	// The ingress published github.push with github; read it with a Kafka client that is not
	// ours.
	onKafka := func(delivery string) {
		t.Helper()
		var headers string
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, kcat, "-b", strings.Join(broker.Brokers, ","), "-C", "-t", prefix+"github.push",
				"-o", "beginning", "-e", "-q", "-f", "%h\n").CombinedOutput()
			headers = string(out)
			return err == nil && strings.Contains(headers, "ce_id="+delivery)
		}, 60*time.Second, 500*time.Millisecond, "github.push not found on Kafka: %s", headers)
		require.Contains(t, headers, "ce_source=/stagebus/github.push")
		require.Contains(t, headers, "ce_type=dev.stagebus.github.push")
	}
	onKafka(delivery)

	broker.Pause()
	defer broker.Resume()
	start := time.Now()
	during := uuid.NewString()
	w = post(during)
	if !outbox {
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		require.Equal(t, "5", w.Header().Get("Retry-After"))
		t.Logf("503 after %s with the broker stopped", time.Since(start).Round(time.Millisecond))
		return
	}
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	t.Logf("202 after %s with the broker stopped", time.Since(start).Round(time.Millisecond))
	broker.Resume()
	onKafka(during)
}
