package github_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// TestSignaturesStayOffTheBus: neither of GitHub's signature headers reaches the metadata
// of the github event or of its sub-topic event.
func TestSignaturesStayOffTheBus(t *testing.T) {
	t.Parallel()
	const secret = "hardening-test-secret"
	body := []byte(`{"repository":{"full_name":"acme/api"}}`)
	in := providertest.NewIngress(t, github.NewSource(github.Config{WebhookSecret: ingress.Secrets{secret}}))
	h := providertest.Header(github.HeaderEvent, "push", github.HeaderDelivery, "sig-1",
		"X-Hub-Signature-256", "sha256="+providertest.HMACHex(secret, body), "X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
	events := in.Accept(t, github.Topic, h, body)
	providertest.RequireSubTopic(t, events, github.Topic, "github.push", ingress.FromUnsignedHeader)
	for _, e := range events {
		require.NotContains(t, e.Metadata, "x-hub-signature-256", e.Topic)
		require.NotContains(t, e.Metadata, "x-hub-signature", e.Topic)
		require.Equal(t, "sig-1", e.Metadata["x-github-delivery"])
	}
}

// TestOnlyDocumentedEventsGetSubTopics: invented X-GitHub-Event values get no sub-topic (the
// github event is marked event_name_unknown); documented ones and those configured in
// subTopics do.
func TestOnlyDocumentedEventsGetSubTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event, wantTopic string
		subTopics        []string
	}{
		{event: "push", wantTopic: "github.push"},
		{event: "workflow_run", wantTopic: "github.workflow_run"},
		{event: "evil000"},
		{event: "Push"},
		{event: "brand_new_event"},
		{event: "brand_new_event", subTopics: []string{"brand_new_event"}, wantTopic: "github.brand_new_event"},
		{event: "evil001", subTopics: []string{"brand_new_event"}},
	}
	const secret = "hardening-test-secret"
	body := []byte(`{}`)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with subTopics %v", tt.event, tt.subTopics), func(t *testing.T) {
			t.Parallel()
			in := providertest.NewIngressWithSubTopics(t, map[string][]string{github.Topic: tt.subTopics},
				github.NewSource(github.Config{WebhookSecret: ingress.Secrets{secret}}))
			h := providertest.Header(github.HeaderEvent, tt.event, github.HeaderDelivery, "d-1", github.HeaderSignature, "sha256="+providertest.HMACHex(secret, body))
			events := in.Accept(t, github.Topic, h, body)
			if tt.wantTopic == "" {
				providertest.RequireNoSubTopic(t, events, github.Topic, true)
				return
			}
			providertest.RequireSubTopic(t, events, github.Topic, tt.wantTopic, ingress.FromUnsignedHeader)
		})
	}
}

// TestEventsMakeValidTopics: every documented event name makes a valid topic, once.
func TestEventsMakeValidTopics(t *testing.T) {
	t.Parallel()
	providertest.RequireValidEventTopics(t, github.Topic, github.Events)
	for _, e := range github.Events {
		require.Equal(t, strings.ToLower(e), e)
	}
	require.Subset(t, github.Events, []string{"push", "pull_request", "ping"})
}
