package bitbucket_test

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenSecret signs the example deliveries.
const goldenSecret = "golden-webhook-secret"

// TestGolden: an example delivery (testdata/<name>.json with the headers Bitbucket sends in
// testdata/<name>.headers) through the ingress and the router gives the events in
// testdata/<name>.golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		topic  string
		router func(eventsvc.Publisher, ...string) eventsvc.Subscription
	}{
		{name: "cloud_repo_push", topic: bitbucket.TopicCloud, router: bitbucket.NewCloudRouter},
		{name: "server_repo_refs_changed", topic: bitbucket.TopicServer, router: bitbucket.NewServerRouter},
		{name: "server_pr_opened", topic: bitbucket.TopicServer, router: bitbucket.NewServerRouter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tt.name+".json"))
			require.NoError(t, err)
			h := providertest.ReadHeaders(t, filepath.Join("testdata", tt.name+".headers"))
			h.Set(bitbucket.HeaderSignature, "sha256="+providertest.HMACHex(goldenSecret, body))

			secrets := ingress.Secrets{goldenSecret}
			in := providertest.NewIngress(t,
				bitbucket.NewCloudSource(bitbucket.CloudConfig{WebhookSecret: secrets}),
				bitbucket.NewServerSource(bitbucket.ServerConfig{WebhookSecret: secrets}))
			w := in.Post(tt.topic, h, body)
			require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
			in.Route(t, tt.router(in.Bus))

			events := in.Bus.Published()
			require.Len(t, events, 2, "the event and its sub-topic event")
			providertest.Golden(t, filepath.Join("testdata", tt.name+".golden"), *update, events)
		})
	}
}
