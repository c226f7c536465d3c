package gitea_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: none of the Gitea, Forgejo and Gogs signature headers reaches
// the metadata of the gitea event or of its sub-topic event.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const secret = "hardening-test-secret"
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	sig := providertest.HMACHex(secret, body)
	in := providertest.NewIngress(t, gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{secret}}))
	h := providertest.Header(gitea.HeaderEvent, "push", gitea.HeaderDelivery, "sig-1",
		"X-Gitea-Signature", sig, "X-Forgejo-Signature", sig, "X-Gogs-Signature", sig)
	events := in.Accept(t, gitea.Topic, h, body)
	providertest.RequireSubTopic(t, events, gitea.Topic, "gitea.push", ingress.FromUnsignedHeader)
	for _, e := range events {
		for _, k := range []string{"x-gitea-signature", "x-forgejo-signature", "x-gogs-signature"} {
			require.NotContains(t, e.Metadata, k, e.Topic)
		}
		require.Equal(t, "sig-1", e.Metadata["x-gitea-delivery"])
	}
}

// TestOnlyDocumentedEventsGetSubTopics: invented X-Forgejo-Event values get no sub-topic (the
// gitea event is marked event_name_unknown); documented ones and those configured in
// subTopics do.
func TestOnlyDocumentedEventsGetSubTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event, wantTopic string
		subTopics        []string
	}{
		{event: "pull_request_approved", wantTopic: "gitea.pull_request_approved"},
		{event: "evil000"},
		{event: "brand_new"},
		{event: "brand_new", subTopics: []string{"brand_new"}, wantTopic: "gitea.brand_new"},
	}
	const secret = "hardening-test-secret"
	body := []byte(`{}`)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with subTopics %v", tt.event, tt.subTopics), func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngressWithSubTopics(t, map[string][]string{gitea.Topic: tt.subTopics},
				gitea.NewSource(gitea.Config{WebhookSecret: ingress.Secrets{secret}}))
			h := providertest.Header(gitea.HeaderForgejoEvent, tt.event, gitea.HeaderForgejoDelivery, "d-1", gitea.HeaderForgejoSignature, providertest.HMACHex(secret, body))
			events := in.Accept(t, gitea.Topic, h, body)
			if tt.wantTopic == "" {
				providertest.RequireNoSubTopic(t, events, gitea.Topic, true)
				return
			}
			providertest.RequireSubTopic(t, events, gitea.Topic, tt.wantTopic, ingress.FromUnsignedHeader)
		})
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, gitea.Topic, gitea.Events)
}
