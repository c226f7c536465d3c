package bitbucket_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

const moduleConfig = `
events:
  http:
    topics: [bitbucketCloud, bitbucketServer]
  modules:
    bitbucketCloud:
      webhookSecret: cloud-secret-of-16+chars
    bitbucketServer:
      webhookSecret: [rotated-away-secret-1, server-secret-of-16+chars]
`

func deliveryHeaders(idHeader, id, eventKey, signature string) http.Header {
	h := http.Header{}
	h.Set(idHeader, id)
	h.Set(bitbucket.HeaderEventKey, eventKey)
	if signature != "" {
		h.Set(bitbucket.HeaderSignature, signature)
	}
	return h
}

// TestModule: through the real modules, a signed delivery on either topic is answered 202 and
// reaches a subscription on the topic and its sub-topic; unsigned or mis-signed ones are
// answered 401 and publish nothing. Each topic has its own secret.
func TestModule(t *testing.T) {
	t.Parallel()
	app := providertest.Start(t, moduleConfig, bitbucket.Module,
		bitbucket.TopicCloud, "bitbucketCloud.repo:push", bitbucket.TopicServer, "bitbucketServer.repo:refs_changed")
	cloudBody := []byte(`{"repository":{"full_name":"acme/payments"},"push":{"changes":[]}}`)
	serverBody := []byte(`{"eventKey":"repo:refs_changed","repository":{"slug":"payments","project":{"key":"PLAT"}}}`)
	cloudSig := "sha256=" + providertest.HMACHex("cloud-secret-of-16+chars", cloudBody)
	serverSig := "sha256=" + providertest.HMACHex("server-secret-of-16+chars", serverBody)

	refused := []struct {
		name  string
		topic string
		h     http.Header
		body  []byte
	}{
		{name: "cloud: tampered body", topic: bitbucket.TopicCloud, h: deliveryHeaders(bitbucket.HeaderCloudDelivery, "c-tampered", "repo:push", cloudSig), body: []byte(`{"repository":{"full_name":"acme/other"}}`)},
		{name: "cloud: wrong secret", topic: bitbucket.TopicCloud, h: deliveryHeaders(bitbucket.HeaderCloudDelivery, "c-wrong", "repo:push", "sha256="+providertest.HMACHex("guessed", cloudBody)), body: cloudBody},
		{name: "cloud: the other topic's secret", topic: bitbucket.TopicCloud, h: deliveryHeaders(bitbucket.HeaderCloudDelivery, "c-other", "repo:push", "sha256="+providertest.HMACHex("server-secret-of-16+chars", cloudBody)), body: cloudBody},
		{name: "cloud: missing signature", topic: bitbucket.TopicCloud, h: deliveryHeaders(bitbucket.HeaderCloudDelivery, "c-missing", "repo:push", ""), body: cloudBody},
		{name: "server: tampered body", topic: bitbucket.TopicServer, h: deliveryHeaders(bitbucket.HeaderServerDelivery, "s-tampered", "repo:refs_changed", serverSig), body: []byte(`{"eventKey":"repo:refs_changed"}`)},
		{name: "server: wrong secret", topic: bitbucket.TopicServer, h: deliveryHeaders(bitbucket.HeaderServerDelivery, "s-wrong", "repo:refs_changed", "sha256="+providertest.HMACHex("guessed", serverBody)), body: serverBody},
		{name: "server: missing signature", topic: bitbucket.TopicServer, h: deliveryHeaders(bitbucket.HeaderServerDelivery, "s-missing", "repo:refs_changed", ""), body: serverBody},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w := app.Post(tt.topic, tt.h, tt.body)
			require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
			require.Zero(t, app.Published(), "nothing is published")
		})
	}

	w := app.Post(bitbucket.TopicCloud, deliveryHeaders(bitbucket.HeaderCloudDelivery, "c-valid", "repo:push", cloudSig), cloudBody)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	for _, e := range app.Await("c-valid", bitbucket.TopicCloud, "bitbucketCloud.repo:push") {
		require.Equal(t, "acme/payments", e.Key)
		require.Equal(t, cloudBody, e.Payload)
	}

	w = app.Post(bitbucket.TopicServer, deliveryHeaders(bitbucket.HeaderServerDelivery, "s-valid", "repo:refs_changed", serverSig), serverBody)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	for _, e := range app.Await("s-valid", bitbucket.TopicServer, "bitbucketServer.repo:refs_changed") {
		require.Equal(t, "PLAT/payments", e.Key)
		require.Equal(t, serverBody, e.Payload)
	}
}

// TestFailClosed: a topic without a secret keeps the application from starting, unless it is
// marked insecure.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	err := providertest.StartError(t, "events:\n  http:\n    topics: [bitbucketCloud, bitbucketServer]\n  modules:\n    bitbucketCloud:\n      webhookSecret: s\n", bitbucket.Module)
	require.ErrorContains(t, err, "topic bitbucketServer has no verifier: set events.modules.bitbucketServer.webhookSecret, or set events.http.topicOptions.bitbucketServer.insecure: true")
	require.NotContains(t, err.Error(), "topic bitbucketCloud has no verifier")

	err = providertest.StartError(t, "events:\n  http:\n    topics: [bitbucketCloud]\n", bitbucket.Module)
	require.ErrorContains(t, err, "topic bitbucketCloud has no verifier: set events.modules.bitbucketCloud.webhookSecret")

	app := providertest.Start(t, "events:\n  http:\n    topics: [bitbucketServer]\n    topicOptions:\n      bitbucketServer:\n        insecure: true\n",
		bitbucket.Module, bitbucket.TopicServer, "bitbucketServer.repo:refs_changed")
	w := app.Post(bitbucket.TopicServer, deliveryHeaders(bitbucket.HeaderServerDelivery, "s-insecure", "repo:refs_changed", ""), []byte(`{}`))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	app.Await("s-insecure", bitbucket.TopicServer, "bitbucketServer.repo:refs_changed")
}
