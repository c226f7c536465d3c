package gitea_test

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitea"
)

// gitea's source reads Gitea's and Forgejo's headers alike: the delivery id, the ordering key
// (the repository) and the event name, which makes the sub-topic (gitea.pull_request) that
// the ingress publishes with the event — only for names Gitea documents (KnownEvents).
func ExampleNewSource() {
	src := gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{"example-webhook-secret"}})
	h := http.Header{}
	h.Set(gitea.HeaderForgejoDelivery, "2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10")
	h.Set(gitea.HeaderForgejoEvent, "pull_request")
	payload := []byte(`{"action":"opened","repository":{"full_name":"shop/checkout"}}`)
	key, err := src.Inspect(h, payload)
	if err != nil {
		panic(err)
	}
	name := src.EventName(h, payload)
	fmt.Println(src.Topic, src.DeliveryID(h), key)
	fmt.Println(name, src.EventNameSource, slices.Contains(src.KnownEvents, name), slices.Contains(src.KnownEvents, "evil000"))
	// Output:
	// gitea 2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10 shop/checkout
	// pull_request unsigned-header true false
}
