package github_test

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/github"
)

// The router republishes each github event on its sub-topic, named by X-GitHub-Event.
func ExampleNewRouter() {
	bus := &eventsvctest.Recorder{}
	event := eventsvc.Event{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Topic: github.Topic, Key: "acme/api",
		Payload: []byte(`{"ref":"refs/heads/main"}`), Metadata: map[string]string{"x-github-event": "push"}}

	err := bus.Deliver(context.Background(), github.NewRouter(bus), event)
	fmt.Println("handler error:", err)
	for _, e := range bus.Published() {
		fmt.Println(e.Topic, e.ID, e.Key, e.Metadata["event_name_source"])
	}
	// Output:
	// handler error: <nil>
	// github.push 72d3162e-cc78-11e3-81ab-4c9367dc0958 acme/api unsigned-header
}
