package bitbucket_test

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/bitbucket"
)

// Bitbucket Data Center's source reads the delivery id, the ordering key (project/repository)
// and the event key, which makes the sub-topic (bitbucketServer.repo:refs_changed) that the
// ingress publishes with the event — only for keys Bitbucket documents for its product: Cloud's
// repo:push is not one of Data Center's.
func ExampleNewServerSource() {
	src := bitbucket.NewServerSource(bitbucket.ServerConfig{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})
	h := http.Header{}
	h.Set(bitbucket.HeaderServerDelivery, "3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9")
	h.Set(bitbucket.HeaderEventKey, "repo:refs_changed")
	payload := []byte(`{"repository":{"slug":"payments","project":{"key":"PLAT"}}}`)
	key, err := src.Inspect(h, payload)
	if err != nil {
		panic(err)
	}
	name := src.EventName(h, payload)
	fmt.Println(src.Topic, src.DeliveryID(h), key)
	fmt.Println(name, src.EventNameSource, slices.Contains(src.KnownEvents, name), slices.Contains(src.KnownEvents, "repo:push"))
	// Output:
	// bitbucketServer 3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9 PLAT/payments
	// repo:refs_changed unsigned-header true false
}
