package github_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenSecret signs the example deliveries.
const goldenSecret = "golden-webhook-secret"

// TestGolden: an example delivery (testdata/<name>.json with the headers GitHub sends in
// testdata/<name>.headers) through the ingress gives the events in testdata/<name>.golden: the
// github event and its sub-topic event, published in one batch.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"push", "pull_request"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			require.NoError(t, err)
			h := providertest.ReadHeaders(t, filepath.Join("testdata", name+".headers"))
			h.Set(github.HeaderSignature, "sha256="+providertest.HMACHex(goldenSecret, body))

			in := providertest.NewIngress(t, github.NewSource(github.Config{WebhookSecret: ingress.Secrets{goldenSecret}}))
			events := in.Accept(t, github.Topic, h, body)
			providertest.RequireSubTopic(t, events, github.Topic, github.Topic+"."+name, ingress.FromUnsignedHeader)
			require.Equal(t, body, events[0].Payload, "the payload is the body, byte for byte")
			providertest.Golden(t, filepath.Join("testdata", name+".golden"), *update, events)
		})
	}
}
