package providertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// HMACHex returns the hex HMAC-SHA256 of body under secret.
func HMACHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Header builds headers from name, value pairs.
func Header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// RequireVerifyResult checks a verifier's outcome: no error when wantErr is empty, else an
// ingress.ErrBadSignature containing wantErr and none of the secrets.
func RequireVerifyResult(t testing.TB, err error, wantErr string, secrets ...config.Secret) {
	t.Helper()
	if wantErr == "" {
		require.NoError(t, err)
		return
	}
	require.ErrorIs(t, err, ingress.ErrBadSignature)
	require.ErrorContains(t, err, wantErr)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s.Value(), "errors never contain a secret")
	}
}

// ReadHeaders reads a file of "Name: value" lines, as a request's headers are written.
func ReadHeaders(t testing.TB, path string) http.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(strings.TrimRight(string(b), "\n") + "\n\n"))).ReadMIMEHeader()
	require.NoError(t, err, path)
	return http.Header(h)
}

// Ingress is an ingress serving the given sources, with deduplication on SQLite, that
// publishes to a Recorder.
type Ingress struct {
	handler http.Handler
	// Bus records what the ingress published.
	Bus *eventsvctest.Recorder
}

// NewIngress builds an ingress for the topics of sources.
func NewIngress(t testing.TB, sources ...ingress.Source) *Ingress {
	t.Helper()
	return NewIngressWithSubTopics(t, nil, sources...)
}

// NewIngressWithSubTopics builds an ingress for the topics of sources, with
// events.http.topicOptions.<topic>.subTopics set to subTopics[topic].
func NewIngressWithSubTopics(t testing.TB, subTopics map[string][]string, sources ...ingress.Source) *Ingress {
	t.Helper()
	var cfg ingress.Config
	cfg.SetDefaults()
	for _, s := range sources {
		cfg.Topics = append(cfg.Topics, s.Topic)
	}
	for topic, names := range subTopics {
		if cfg.TopicOptions == nil {
			cfg.TopicOptions = map[string]ingress.TopicOptions{}
		}
		opts := cfg.TopicOptions[topic]
		opts.SubTopics = names
		cfg.TopicOptions[topic] = opts
	}
	require.NoError(t, cfg.Validate())
	dedup := ingress.NewDedup(databasetest.SQLite(t, ingress.DedupMigrations), cfg.DedupRetention, zerolog.Nop(), nil)
	require.NoError(t, dedup.Start(context.Background()))
	t.Cleanup(func() { _ = dedup.Stop(context.Background()) })
	bus := &eventsvctest.Recorder{}
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: dedup, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Sources: sources})
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, r := range in.Routes() {
		mux.Handle(r.Pattern(), r.Handler)
	}
	return &Ingress{handler: mux, Bus: bus}
}

// Post sends body with the headers (and Content-Type: application/json unless set) to the
// topic's route.
func (in *Ingress) Post(topic string, h http.Header, body []byte) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	in.handler.ServeHTTP(w, request(topic, h, body))
	return w
}

// Accept posts as Post does, requires the answer 202, and returns the events that this
// request published, in publish order. Requests posted to one Ingress at the same time would
// mix their events: post them one after the other.
func (in *Ingress) Accept(t testing.TB, topic string, h http.Header, body []byte) []eventsvc.Event {
	t.Helper()
	before := len(in.Bus.Published())
	w := in.Post(topic, h, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	return in.Bus.Published()[before:]
}

func request(topic string, h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/events/http/"+topic, bytes.NewReader(body))
	for k, vs := range h {
		r.Header[k] = append([]string(nil), vs...)
	}
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// goldenEvent is how an event is written to a golden file.
type goldenEvent struct {
	Topic         string            `json:"topic"`
	ID            string            `json:"id"`
	Key           string            `json:"key"`
	Metadata      map[string]string `json:"metadata"`
	PayloadBytes  int               `json:"payloadBytes"`
	PayloadSHA256 string            `json:"payloadSha256"`
}

// Golden compares the events, as indented JSON, with the golden file at path, or rewrites the
// file when update is set. Trace and span ids, random on every run, are written as trace-N
// and span-N, numbered in order of appearance, so that a child span of the same trace shows.
func Golden(t testing.TB, path string, update bool, events []eventsvc.Event) {
	t.Helper()
	ids := map[string]string{}
	name := func(kind, id string) string {
		if _, ok := ids[id]; !ok {
			n := 0
			for _, v := range ids {
				if strings.HasPrefix(v, kind) {
					n++
				}
			}
			ids[id] = fmt.Sprintf("%s-%d", kind, n+1)
		}
		return ids[id]
	}
	out := make([]goldenEvent, 0, len(events))
	for _, e := range events {
		meta := make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			if parts := strings.Split(v, "-"); k == eventsvc.MetaTraceparent && len(parts) == 4 {
				v = strings.Join([]string{parts[0], name("trace", parts[1]), name("span", parts[2]), parts[3]}, "-")
			}
			meta[k] = v
		}
		sum := sha256.Sum256(e.Payload)
		out = append(out, goldenEvent{Topic: e.Topic, ID: e.ID, Key: e.Key, Metadata: meta, PayloadBytes: len(e.Payload), PayloadSHA256: hex.EncodeToString(sum[:])})
	}
	got, err := json.MarshalIndent(out, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	if update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to write the golden file")
	require.Equal(t, string(want), string(got), "%s differs; run go test -update and review the diff", path)
}

// wait bounds how long end-to-end tests wait for start-up and deliveries.
const wait = 10 * time.Second
