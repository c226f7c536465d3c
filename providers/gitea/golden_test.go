package gitea_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenSecret signs the example deliveries.
const goldenSecret = "golden-webhook-secret"

// TestGolden: an example delivery (testdata/<name>.json with the headers Gitea or Forgejo
// sends in testdata/<name>.headers) through the ingress gives the events in
// testdata/<name>.golden: the gitea event and its sub-topic event, published in one batch.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, signatureHeader, subTopic string }{
		{name: "push", signatureHeader: gitea.HeaderSignature, subTopic: "gitea.push"},
		{name: "forgejo_pull_request", signatureHeader: gitea.HeaderForgejoSignature, subTopic: "gitea.pull_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tt.name+".json"))
			require.NoError(t, err)
			h := providertest.ReadHeaders(t, filepath.Join("testdata", tt.name+".headers"))
			h.Set(tt.signatureHeader, providertest.HMACHex(goldenSecret, body))

			in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{goldenSecret}}))
			events := in.Accept(t, gitea.Topic, h, body)
			providertest.RequireSubTopic(t, events, gitea.Topic, tt.subTopic, ingress.FromUnsignedHeader)
			providertest.Golden(t, filepath.Join("testdata", tt.name+".golden"), *update, events)
		})
	}
}
