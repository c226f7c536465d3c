package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
)

// With github's source, the ingress publishes a signed delivery on github and, in the same
// batch, on the sub-topic named by X-GitHub-Event (github.push) — only for names GitHub
// documents: an invented name stays on github, marked event_name_unknown. An application
// wires ingress.Module and github.Module instead; here the ingress is built by hand, on a
// recording bus.
func ExampleNewSource() {
	ctx := context.Background()
	db, err := database.Open(database.Config{Connection: database.Connection{DSN: ":memory:"}}, ingress.DedupMigrations, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	if err := db.Start(ctx); err != nil {
		panic(err)
	}
	defer db.Close()
	var cfg ingress.Config
	cfg.SetDefaults()
	cfg.Topics = []string{github.Topic}
	dedup := ingress.NewDedup(db, cfg.DedupRetention, zerolog.Nop(), nil)
	if err := dedup.Start(ctx); err != nil {
		panic(err)
	}
	defer dedup.Stop(ctx)
	bus := &eventsvctest.Recorder{}
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: dedup, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Sources: []ingress.Source{github.NewSource(github.Config{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})}})
	if err != nil {
		panic(err)
	}

	body := `{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}`
	mac := hmac.New(sha256.New, []byte("example-webhook-secret"))
	mac.Write([]byte(body))
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	deliveries := []struct{ id, event string }{
		{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "push"},
		{"8f2a5c14-cc78-11e3-81ab-4c9367dc0958", "evil000"},
	}
	for _, d := range deliveries {
		r := httptest.NewRequest(http.MethodPost, "/api/events/http/github", strings.NewReader(body))
		r.SetPathValue("topic", github.Topic)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(github.HeaderEvent, d.event)
		r.Header.Set(github.HeaderDelivery, d.id)
		r.Header.Set(github.HeaderSignature, signature)
		w := httptest.NewRecorder()
		in.ServeHTTP(w, r)
		fmt.Println(d.event, w.Code)
	}
	for _, e := range bus.Published() {
		fmt.Printf("%s %s %s source=%q unknown=%q\n", e.Topic, e.ID, e.Key, e.Metadata[ingress.MetaEventNameSource], e.Metadata[ingress.MetaEventNameUnknown])
	}
	// Output:
	// push 202
	// evil000 202
	// github 72d3162e-cc78-11e3-81ab-4c9367dc0958 acme/api source="" unknown=""
	// github.push 72d3162e-cc78-11e3-81ab-4c9367dc0958 acme/api source="unsigned-header" unknown=""
	// github 8f2a5c14-cc78-11e3-81ab-4c9367dc0958 acme/api source="" unknown="true"
}
