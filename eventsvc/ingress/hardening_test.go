package ingress_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// providerSource is a provider-like source on topic "forge": HMAC in X-Forge-Signature,
// delivery id in X-Forge-Delivery, event name in X-Forge-Event, of which "push" is documented.
func providerSource() ingress.Source {
	return ingress.Source{
		Topic:            "forge",
		Verifier:         ingress.HMACVerifier{Headers: []string{"X-Forge-Signature"}, Encoding: ingress.Hex, Secrets: ingress.Secrets{config.Secret(hmacSecret)}},
		DeliveryID:       ingress.HeaderDeliveryID("X-Forge-Delivery"),
		EventName:        func(h http.Header, _ []byte) string { return h.Get("X-Forge-Event") },
		EventNameSource:  ingress.FromUnsignedHeader,
		KnownEvents:      []string{"push"},
		SignatureHeaders: []string{"X-Forge-Signature", "X-Forge-Legacy-Signature"},
		Secrets:          []ingress.SecretSetting{{Key: "events.modules.forge.webhookSecret", Values: ingress.Secrets{config.Secret(hmacSecret)}}},
	}
}

// newProviderIngress serves the forge topic (with subTopics [extra]) and the generic orders
// topic of newIngress.
func newProviderIngress(t *testing.T) fixture {
	t.Helper()
	var cfg ingress.Config
	cfg.SetDefaults()
	cfg.Topics = []string{"forge", "orders"}
	cfg.TopicOptions = map[string]ingress.TopicOptions{
		"forge":  {SubTopics: []string{"extra"}},
		"orders": {Verifier: ingress.VerifierHMACSHA256, Secrets: ingress.Secrets{config.Secret(hmacSecret)}, SignatureHeader: "X-Signature", DeliveryIDHeader: "X-Delivery"},
	}
	require.NoError(t, cfg.Validate())
	bus := &flakyBus{}
	reg := prometheus.NewRegistry()
	in, err := ingress.New(ingress.Params{Config: cfg, Publisher: bus, Dedup: startDedup(t, databasetest.SQLite(t, ingress.DedupMigrations)),
		Logger: zerolog.Nop(), Registerer: reg, Sources: []ingress.Source{providerSource()}})
	require.NoError(t, err)
	return fixture{in: in, bus: bus, reg: reg}
}

func forgeRequest(delivery, event, body string) request {
	return request{topic: "forge", body: body, headers: map[string]string{"X-Forge-Signature": hmacHex(body), "X-Forge-Delivery": delivery, "X-Forge-Event": event}}
}

// TestUnknownEventNames: one signed body replayed with 20 invented event names is accepted
// (the signature is good) but every copy is marked unknown, counted, and published on the
// topic alone; documented and configured names are not marked and get their sub-topic event
// in the same batch, and a sender cannot set the mark (nor the name's source) itself.
func TestUnknownEventNames(t *testing.T) {
	t.Parallel()
	f := newProviderIngress(t)
	body := `{"ref":"refs/heads/main"}`
	for i := range 20 {
		r := forgeRequest(fmt.Sprintf("evil-%d", i), fmt.Sprintf("evil%03d", i), body)
		r.headers[ingress.MetaEventNameUnknown] = "false"
		w, _ := f.post(t, r)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	}
	for _, name := range []string{"push", "extra"} {
		r := forgeRequest("ok-"+name, name, body)
		r.headers[ingress.MetaEventNameUnknown] = "true"
		r.headers[ingress.MetaEventNameSource] = "payload"
		w, _ := f.post(t, r)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	}
	events := f.bus.Published()
	require.Len(t, events, 24, "20 unknown on forge alone, 2 known on forge and their sub-topic")
	topics := map[string]int{}
	for _, e := range events {
		topics[e.Topic]++
		if strings.HasPrefix(e.ID, "evil-") {
			require.Equal(t, "forge", e.Topic, e.ID)
			require.Equal(t, "true", e.Metadata[ingress.MetaEventNameUnknown], e.ID)
			continue
		}
		require.NotContains(t, e.Metadata, ingress.MetaEventNameUnknown, e.ID)
		if e.Topic == "forge" {
			require.NotContains(t, e.Metadata, ingress.MetaEventNameSource, e.ID)
		} else {
			require.Equal(t, ingress.FromUnsignedHeader, e.Metadata[ingress.MetaEventNameSource], e.ID)
		}
	}
	require.Equal(t, map[string]int{"forge": 22, "forge.push": 1, "forge.extra": 1}, topics)

	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	var series []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != "stagebus_ingress_unknown_event_names_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			series = append(series, labels)
			require.Equal(t, 20.0, m.GetCounter().GetValue())
		}
	}
	require.Equal(t, []map[string]string{{"topic": "forge"}}, series, "one series per topic, never one per name")
}

// TestDeliveryIDIsValidated: ids that are not printable ASCII or longer than 200 bytes are
// answered 400 naming the limit, and nothing is published; the longest valid id passes.
func TestDeliveryIDIsValidated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		id         string
		wantStatus int
	}{
		{name: "200 printable bytes", id: strings.Repeat("a", 200), wantStatus: http.StatusAccepted},
		{name: "printable punctuation", id: "msg_2f:~ {x}", wantStatus: http.StatusAccepted},
		{name: "201 bytes", id: strings.Repeat("a", 201), wantStatus: http.StatusBadRequest},
		{name: "500 KB", id: strings.Repeat("b", 500<<10), wantStatus: http.StatusBadRequest},
		{name: "invalid UTF-8", id: "abc\xff\xfe", wantStatus: http.StatusBadRequest},
		{name: "valid UTF-8 that is not ASCII", id: "délivrance", wantStatus: http.StatusBadRequest},
		{name: "control character", id: "abc\x01def", wantStatus: http.StatusBadRequest},
		{name: "tab", id: "abc\tdef", wantStatus: http.StatusBadRequest},
		{name: "DEL", id: "abc\x7f", wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIngress(t)
			w, body := f.post(t, signedOrder(tt.id, `{}`))
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantStatus == http.StatusAccepted {
				require.Len(t, f.bus.Published(), 1)
				return
			}
			require.Equal(t, "InputError", body["error"].(map[string]any)["name"])
			require.Contains(t, body["error"].(map[string]any)["message"], "at most 200 printable ASCII characters")
			require.NotContains(t, w.Body.String(), "bbbbbbbbbb", "the id is not echoed")
			require.Empty(t, f.bus.Published())
			require.Equal(t, 1.0, ingressCounter(t, f, "orders", ingress.ResultInvalid))
		})
	}
}

func FuzzValidateDeliveryID(f *testing.F) {
	for _, s := range []string{"", "8e2b7d40-5b21-11ef-9b3f-2e0a61c94f07", "a\x00b", "\xff", strings.Repeat("x", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ingress.ValidateDeliveryID(id)
		ok := len(id) <= ingress.MaxDeliveryIDLength
		for i := 0; i < len(id); i++ {
			ok = ok && id[i] >= 0x20 && id[i] <= 0x7e
		}
		require.Equal(t, ok, err == nil, "%q: %v", id, err)
	})
}

// TestSignatureHeadersStayOutOfMetadata: the signature headers of every source (the topic's
// own, another provider's, the generic verifiers') and credentials are not copied into the
// event's metadata; other headers are.
func TestSignatureHeadersStayOutOfMetadata(t *testing.T) {
	t.Parallel()
	f := newProviderIngress(t)
	body := `{}`
	extra := map[string]string{
		"Authorization": "Basic dXNlcjpwYXNz", "X-Forge-Legacy-Signature": "sha1=00", "X-Signature-256": "00",
		"Webhook-Signature": "v1,AAAA", "X-Other": "kept",
	}
	provider := forgeRequest("p-1", "push", body)
	generic := signedOrder("g-1", body)
	generic.headers["X-Forge-Signature"] = "replayable"
	for _, r := range []request{provider, generic} {
		for k, v := range extra {
			r.headers[k] = v
		}
		w, _ := f.post(t, r)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	}
	events := f.bus.Published()
	require.Len(t, events, 3, "forge, forge.push and orders")
	for _, e := range events {
		for _, k := range []string{"x-forge-signature", "x-forge-legacy-signature", "x-signature", "x-signature-256", "webhook-signature", "authorization"} {
			require.NotContains(t, e.Metadata, k, "%s on topic %s", k, e.Topic)
		}
		require.Equal(t, "kept", e.Metadata["x-other"])
	}
}

// TestShortSecrets: production (also when auth.environment is not given) refuses webhook
// secrets shorter than 16 characters, naming each key; development only warns, without the
// secret.
func TestShortSecrets(t *testing.T) {
	t.Parallel()
	const short = "short-secret"
	forge := providerSource()
	forge.Secrets = []ingress.SecretSetting{{Key: "events.modules.forge.webhookSecret", Values: ingress.Secrets{config.Secret(hmacSecret), short}}}
	var cfg ingress.Config
	cfg.SetDefaults()
	cfg.Topics = []string{"forge", "orders", "notify"}
	cfg.TopicOptions = map[string]ingress.TopicOptions{
		"orders": {Verifier: ingress.VerifierHMACSHA256, Secrets: ingress.Secrets{short}},
		"notify": {Verifier: ingress.VerifierStandardWebhooks, Secrets: ingress.Secrets{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
	}
	require.NoError(t, cfg.Validate())
	build := func(env config.Environment, logs *bytes.Buffer) error {
		_, err := ingress.New(ingress.Params{Config: cfg, Publisher: &flakyBus{}, Logger: zerolog.New(logs), Registerer: prometheus.NewRegistry(),
			Sources: []ingress.Source{forge}, Environment: env})
		return err
	}
	for _, env := range []config.Environment{config.Production, ""} {
		var logs bytes.Buffer
		err := build(env, &logs)
		require.Error(t, err, "environment %q", env)
		require.Equal(t, "invalid configuration (2 problems):\n"+
			"  events.modules.forge.webhookSecret[1]: a webhook secret must have at least 16 characters in production: generate one (e.g. openssl rand -hex 32) and set it here and at the sender\n"+
			"  events.http.topicOptions.orders.secrets: a webhook secret must have at least 16 characters in production: generate one (e.g. openssl rand -hex 32) and set it here and at the sender",
			err.Error())
		require.NotContains(t, err.Error(), short)
	}
	var logs bytes.Buffer
	require.NoError(t, build(config.Development, &logs))
	require.Equal(t, 2, strings.Count(logs.String(), "webhook secret is shorter than the minimum"), logs.String())
	require.Contains(t, logs.String(), `"key":"events.modules.forge.webhookSecret[1]"`)
	require.Contains(t, logs.String(), `"key":"events.http.topicOptions.orders.secrets"`)
	require.NotContains(t, logs.String(), short)
}

// TestSubTopicsConfig: subTopics entries must make valid topics, and only topics whose
// provider names events accept them.
func TestSubTopicsConfig(t *testing.T) {
	t.Parallel()
	var c ingress.Config
	c.SetDefaults()
	c.Topics = []string{"forge"}
	c.TopicOptions = map[string]ingress.TopicOptions{"forge": {SubTopics: []string{"ok_name", "push hook", ""}}}
	err := c.Validate()
	require.ErrorContains(t, err, `topicOptions.forge.subTopics[1]: "push hook" does not make a valid sub-topic forge.push hook`)
	require.ErrorContains(t, err, `topicOptions.forge.subTopics[2]: "" does not make a valid sub-topic`)
	require.NotContains(t, err.Error(), "subTopics[0]")

	c.Topics = []string{"orders"}
	c.TopicOptions = map[string]ingress.TopicOptions{"orders": {Insecure: true, SubTopics: []string{"created"}}}
	require.NoError(t, c.Validate())
	_, err = ingress.New(ingress.Params{Config: c, Publisher: &flakyBus{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	require.ErrorContains(t, err, "events.http.topicOptions.orders.subTopics: topic orders names no events (only provider topics have sub-topics); remove subTopics")
}
