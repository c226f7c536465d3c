package github_test

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
)

// github's source tells the ingress how to read a delivery: its id, its ordering key (the
// repository), and its event name, which makes the sub-topic (github.push) that the ingress
// publishes with the event — only for names GitHub documents (KnownEvents).
func ExampleNewSource() {
	src := github.NewSource(github.Config{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})
	h := http.Header{}
	h.Set(github.HeaderDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set(github.HeaderEvent, "push")
	payload := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}`)
	key, err := src.Inspect(h, payload)
	if err != nil {
		panic(err)
	}
	name := src.EventName(h, payload)
	fmt.Println(src.Topic, src.DeliveryID(h), key)
	fmt.Println(name, src.EventNameSource, slices.Contains(src.KnownEvents, name), slices.Contains(src.KnownEvents, "evil000"))
	// Output:
	// github 72d3162e-cc78-11e3-81ab-4c9367dc0958 acme/api
	// push unsigned-header true false
}
