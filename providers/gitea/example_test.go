package gitea_test

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
	"github.com/stagebus/stagebus/providers/gitea"
)

// With gitea's source, the ingress publishes a signed delivery on gitea and, in the same
// batch, on the sub-topic named by X-Gitea-Event, or Forgejo's X-Forgejo-Event
// (gitea.pull_request) — only for names Gitea documents: an invented name stays on gitea,
// marked event_name_unknown. An application wires ingress.Module and gitea.Module instead;
// here the ingress is built by hand, on a recording bus.
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
	cfg.Topics = []string{gitea.Topic}
	dedup := ingress.NewDedup(db, cfg.DedupRetention, zerolog.Nop(), nil)
	if err := dedup.Start(ctx); err != nil {
		panic(err)
	}
	defer dedup.Stop(ctx)
	bus := &eventsvctest.Recorder{}
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: dedup, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Sources: []ingress.Source{gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})}})
	if err != nil {
		panic(err)
	}

	body := `{"action":"opened","repository":{"full_name":"shop/checkout"}}`
	mac := hmac.New(sha256.New, []byte("example-webhook-secret"))
	mac.Write([]byte(body))
	signature := hex.EncodeToString(mac.Sum(nil)) // bare hex, no prefix
	deliveries := []struct{ id, event string }{
		{"2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10", "pull_request"},
		{"9e1f3a5b-7c2d-4e8f-a0b1-c2d3e4f5a6b7", "evil000"},
	}
	for _, d := range deliveries {
		r := httptest.NewRequest(http.MethodPost, "/api/events/http/gitea", strings.NewReader(body))
		r.SetPathValue("topic", gitea.Topic)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(gitea.HeaderForgejoEvent, d.event)
		r.Header.Set(gitea.HeaderForgejoDelivery, d.id)
		r.Header.Set(gitea.HeaderForgejoSignature, signature)
		w := httptest.NewRecorder()
		in.ServeHTTP(w, r)
		fmt.Println(d.event, w.Code)
	}
	for _, e := range bus.Published() {
		fmt.Printf("%s %s %s source=%q unknown=%q\n", e.Topic, e.ID, e.Key, e.Metadata[ingress.MetaEventNameSource], e.Metadata[ingress.MetaEventNameUnknown])
	}
	// Output:
	// pull_request 202
	// evil000 202
	// gitea 2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10 shop/checkout source="" unknown=""
	// gitea.pull_request 2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10 shop/checkout source="unsigned-header" unknown=""
	// gitea 9e1f3a5b-7c2d-4e8f-a0b1-c2d3e4f5a6b7 shop/checkout source="" unknown="true"
}
