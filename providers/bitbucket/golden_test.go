package bitbucket_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenSecret signs the example deliveries.
const goldenSecret = "golden-webhook-secret"

// TestGolden: an example delivery (testdata/<name>.json with the headers Bitbucket sends in
// testdata/<name>.headers) through the ingress gives the events in testdata/<name>.golden: the
// event and its sub-topic event, published in one batch.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, topic, subTopic string
	}{
		{name: "cloud_repo_push", topic: bitbucket.TopicCloud, subTopic: "bitbucketCloud.repo:push"},
		{name: "server_repo_refs_changed", topic: bitbucket.TopicServer, subTopic: "bitbucketServer.repo:refs_changed"},
		{name: "server_pr_opened", topic: bitbucket.TopicServer, subTopic: "bitbucketServer.pr:opened"},
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
			events := in.Accept(t, tt.topic, h, body)
			providertest.RequireSubTopic(t, events, tt.topic, tt.subTopic, ingress.FromUnsignedHeader)
			providertest.Golden(t, filepath.Join("testdata", tt.name+".golden"), *update, events)
		})
	}
}
