package gitlab_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
)

// With gitlab's source, the ingress publishes a delivery on gitlab and, in the same batch, on
// the sub-topic named by the payload's object_kind (gitlab.merge_request: merge requests have
// no event_name) — only for names GitLab documents: an invented kind stays on gitlab, marked
// event_name_unknown. An application wires ingress.Module and gitlab.Module instead; here the
// ingress is built by hand, on a recording bus.
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
	cfg.Topics = []string{gitlab.Topic}
	dedup := ingress.NewDedup(db, cfg.DedupRetention, zerolog.Nop(), nil)
	if err := dedup.Start(ctx); err != nil {
		panic(err)
	}
	defer dedup.Stop(ctx)
	bus := &eventsvctest.Recorder{}
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: dedup, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Sources: []ingress.Source{gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{"example-secret-token"}})}})
	if err != nil {
		panic(err)
	}

	deliveries := []struct{ id, kind string }{
		{"1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71", "merge_request"},
		{"5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f23", "evil000"},
	}
	for _, d := range deliveries {
		body := `{"object_kind":"` + d.kind + `","project":{"path_with_namespace":"platform/payments"}}`
		r := httptest.NewRequest(http.MethodPost, "/api/events/http/gitlab", strings.NewReader(body))
		r.SetPathValue("topic", gitlab.Topic)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(gitlab.HeaderEventUUID, d.id)
		r.Header.Set(gitlab.HeaderToken, "example-secret-token")
		w := httptest.NewRecorder()
		in.ServeHTTP(w, r)
		fmt.Println(d.kind, w.Code)
	}
	for _, e := range bus.Published() {
		fmt.Printf("%s %s %s source=%q unknown=%q\n", e.Topic, e.ID, e.Key, e.Metadata[ingress.MetaEventNameSource], e.Metadata[ingress.MetaEventNameUnknown])
	}
	// Output:
	// merge_request 202
	// evil000 202
	// gitlab 1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71 platform/payments source="" unknown=""
	// gitlab.merge_request 1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71 platform/payments source="payload" unknown=""
	// gitlab 5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f23 platform/payments source="" unknown="true"
}
