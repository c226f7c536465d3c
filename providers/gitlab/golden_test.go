package gitlab_test

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitlab"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden: an example delivery (testdata/<name>.json with the headers GitLab sends in
// testdata/<name>.headers, and the secret token) through the ingress gives the events in
// testdata/<name>.golden: the gitlab event and its sub-topic event, published in one batch.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"merge_request", "push"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			require.NoError(t, err)
			h := providertest.ReadHeaders(t, filepath.Join("testdata", name+".headers"))
			h.Set(gitlab.HeaderToken, "golden-secret-token")

			in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{"golden-secret-token"}}))
			events := in.Accept(t, gitlab.Topic, h, body)
			providertest.RequireSubTopic(t, events, gitlab.Topic, gitlab.Topic+"."+name, ingress.FromPayload)
			require.NotContains(t, events[0].Metadata, "x-gitlab-token", "the secret token does not travel")
			providertest.Golden(t, filepath.Join("testdata", name+".golden"), *update, events)
		})
	}
}

// TestHeaderPayloadDisagreement: a request whose X-Gitlab-Event does not match its payload is
// answered 400 and publishes nothing.
func TestHeaderPayloadDisagreement(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "merge_request.json"))
	require.NoError(t, err)
	h := providertest.ReadHeaders(t, filepath.Join("testdata", "merge_request.headers"))
	h.Set(gitlab.HeaderToken, "golden-secret-token")
	h.Set(gitlab.HeaderEvent, "Push Hook")

	in := providertest.NewIngress(t, gitlab.NewSource(gitlab.Config{WebhookSecret: ingress.Secrets{"golden-secret-token"}}))
	w := in.Post(gitlab.Topic, h, body)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), `X-Gitlab-Event \"Push Hook\" does not agree with the payload (object_kind \"merge_request\"`)
	require.Empty(t, in.Bus.Published())
}
