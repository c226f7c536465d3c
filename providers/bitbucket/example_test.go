package bitbucket_test

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
	"github.com/stagebus/stagebus/providers/bitbucket"
)

// With the bitbucketServer source, the ingress publishes a signed delivery on bitbucketServer
// and, in the same batch, on the sub-topic named by X-Event-Key
// (bitbucketServer.repo:refs_changed) — only for keys Atlassian documents for the product: a
// Cloud key stays on bitbucketServer, marked event_name_unknown. An application wires
// ingress.Module and bitbucket.Module instead; here the ingress is built by hand, on a
// recording bus.
func ExampleNewServerSource() {
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
	cfg.Topics = []string{bitbucket.TopicServer}
	dedup := ingress.NewDedup(db, cfg.DedupRetention, zerolog.Nop(), nil)
	if err := dedup.Start(ctx); err != nil {
		panic(err)
	}
	defer dedup.Stop(ctx)
	bus := &eventsvctest.Recorder{}
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: dedup, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Sources: []ingress.Source{bitbucket.NewServerSource(bitbucket.ServerConfig{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})}})
	if err != nil {
		panic(err)
	}

	body := `{"repository":{"slug":"payments","project":{"key":"PLAT"}}}`
	mac := hmac.New(sha256.New, []byte("example-webhook-secret"))
	mac.Write([]byte(body))
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	deliveries := []struct{ id, eventKey string }{
		{"3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9", "repo:refs_changed"},
		{"6a2b8d0f-1c3e-4f5a-9b6d-e5c4f3a2b1d0", "repo:push"},
	}
	for _, d := range deliveries {
		r := httptest.NewRequest(http.MethodPost, "/api/events/http/bitbucketServer", strings.NewReader(body))
		r.SetPathValue("topic", bitbucket.TopicServer)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(bitbucket.HeaderEventKey, d.eventKey)
		r.Header.Set(bitbucket.HeaderServerDelivery, d.id)
		r.Header.Set(bitbucket.HeaderSignature, signature)
		w := httptest.NewRecorder()
		in.ServeHTTP(w, r)
		fmt.Println(d.eventKey, w.Code)
	}
	for _, e := range bus.Published() {
		fmt.Printf("%s %s %s source=%q unknown=%q\n", e.Topic, e.ID, e.Key, e.Metadata[ingress.MetaEventNameSource], e.Metadata[ingress.MetaEventNameUnknown])
	}
	// Output:
	// repo:refs_changed 202
	// repo:push 202
	// bitbucketServer 3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9 PLAT/payments source="" unknown=""
	// bitbucketServer.repo:refs_changed 3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9 PLAT/payments source="unsigned-header" unknown=""
	// bitbucketServer 6a2b8d0f-1c3e-4f5a-9b6d-e5c4f3a2b1d0 PLAT/payments source="" unknown="true"
}
