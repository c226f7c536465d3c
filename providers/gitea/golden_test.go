package gitea_test

import (
	"flag"
	"net/http"
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
// sends in testdata/<name>.headers) through the ingress and the router gives the events in
// testdata/<name>.golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, signatureHeader string }{
		{name: "push", signatureHeader: gitea.HeaderSignature},
		{name: "forgejo_pull_request", signatureHeader: gitea.HeaderForgejoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tt.name+".json"))
			require.NoError(t, err)
			h := providertest.ReadHeaders(t, filepath.Join("testdata", tt.name+".headers"))
			h.Set(tt.signatureHeader, providertest.HMACHex(goldenSecret, body))

			in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{goldenSecret}}))
			w := in.Post(gitea.Topic, h, body)
			require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
			in.Route(t, gitea.NewRouter(in.Bus))

			events := in.Bus.Published()
			require.Len(t, events, 2, "the gitea event and its sub-topic event")
			providertest.Golden(t, filepath.Join("testdata", tt.name+".golden"), *update, events)
		})
	}
}
