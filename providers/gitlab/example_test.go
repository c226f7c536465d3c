package gitlab_test

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
)

// gitlab's source reads the event name from the payload's object_kind, which the sender's
// token covers, so the sub-topic (gitlab.merge_request) the ingress publishes with the event
// names its source "payload" — only for names GitLab documents (KnownEvents).
func ExampleNewSource() {
	src := gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{"example-secret-token"}})
	h := http.Header{}
	h.Set(gitlab.HeaderEventUUID, "1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71")
	payload := []byte(`{"object_kind":"merge_request","project":{"path_with_namespace":"platform/payments"}}`)
	key, err := src.Inspect(h, payload)
	if err != nil {
		panic(err)
	}
	name := src.EventName(h, payload)
	fmt.Println(src.Topic, src.DeliveryID(h), key)
	fmt.Println(name, src.EventNameSource, slices.Contains(src.KnownEvents, name), slices.Contains(src.KnownEvents, "evil000"))
	// Output:
	// gitlab 1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71 platform/payments
	// merge_request payload true false
}
