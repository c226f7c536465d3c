package gitlab

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/providertest"
)

// The Standard Webhooks reference library's published vector (TestWebhookSign).
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = "1614265330"
	swBody      = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var swTime = time.Unix(1614265330, 0)

// signed returns the headers of the Standard Webhooks vector, with more headers.
func signed(kv ...string) http.Header {
	return providertest.Header(append([]string{ingress.HeaderWebhookID, swID, ingress.HeaderWebhookTimestamp, swTimestamp, ingress.HeaderWebhookSignature, swSignature}, kv...)...)
}

// sign returns a Standard Webhooks signature of body under secret.
func sign(secret, id, ts string, body []byte) string {
	key, err := ingress.StandardWebhooksKey(secret)
	if err != nil {
		panic(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	const otherKey = "whsec_dGhlIG9sZCBzaWduaW5nIHRva2VuIGtleQ=="
	token := Config{WebhookSecret: ingress.Secrets{"old-token", "glpat-like-secret-token"}}
	signing := Config{SigningToken: ingress.Secrets{otherKey, swSecret}}
	both := Config{WebhookSecret: ingress.Secrets{"glpat-like-secret-token"}, SigningToken: ingress.Secrets{swSecret}}
	tests := []struct {
		name    string
		cfg     Config
		h       http.Header
		body    string
		now     time.Time
		wantErr string
	}{
		{name: "token", cfg: token, h: providertest.Header(HeaderToken, "glpat-like-secret-token"), body: "{}"},
		{name: "the old token of a rotation", cfg: token, h: providertest.Header(HeaderToken, "old-token"), body: "{}"},
		{name: "wrong token", cfg: token, h: providertest.Header(HeaderToken, "glpat-like-secret-tokem"), body: "{}", wantErr: "X-Gitlab-Token does not match"},
		{name: "missing token", cfg: token, h: providertest.Header(), body: "{}", wantErr: "no X-Gitlab-Token header"},
		{name: "signing token: the published vector", cfg: signing, h: signed(), body: swBody, now: swTime},
		{name: "signing token: the new key of a rotation", cfg: signing,
			h: providertest.Header(ingress.HeaderWebhookID, swID, ingress.HeaderWebhookTimestamp, swTimestamp, ingress.HeaderWebhookSignature, sign(otherKey, swID, swTimestamp, []byte(swBody))), body: swBody, now: swTime},
		{name: "signing token: stale timestamp", cfg: signing, h: signed(), body: swBody, now: swTime.Add(6 * time.Minute), wantErr: "more than 5 minutes"},
		{name: "signing token: tampered body", cfg: signing, h: signed(), body: `{"test": 2432232315}`, now: swTime, wantErr: "no webhook-signature matches"},
		{name: "signing token: missing signature", cfg: signing, h: providertest.Header(ingress.HeaderWebhookID, swID, ingress.HeaderWebhookTimestamp, swTimestamp), body: swBody, now: swTime, wantErr: "are required"},
		{name: "both", cfg: both, h: signed(HeaderToken, "glpat-like-secret-token"), body: swBody, now: swTime},
		{name: "both, wrong token", cfg: both, h: signed(HeaderToken, "nope"), body: swBody, now: swTime, wantErr: "X-Gitlab-Token does not match"},
		{name: "both, token only", cfg: both, h: providertest.Header(HeaderToken, "glpat-like-secret-token"), body: swBody, now: swTime, wantErr: "are required"},
		{name: "both, bad signature", cfg: both, h: signed(HeaderToken, "glpat-like-secret-token"), body: "{}", now: swTime, wantErr: "no webhook-signature matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := NewSource(tt.cfg).Verifier
			require.NotNil(t, v)
			now := tt.now
			if now.IsZero() {
				now = time.Now()
			}
			err := v.Verify(tt.h, []byte(tt.body), now)
			providertest.RequireVerifyResult(t, err, tt.wantErr, append(tt.cfg.WebhookSecret, tt.cfg.SigningToken...)...)
		})
	}
}

func TestNoSecretNoVerifier(t *testing.T) {
	t.Parallel()
	require.Nil(t, NewSource(Config{}).Verifier, "a nil Verifier makes the ingress fail closed")
	require.Nil(t, NewSource(Config{WebhookSecret: ingress.Secrets{}, SigningToken: ingress.Secrets{}}).Verifier)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{WebhookSecret: ingress.Secrets{"t"}, SigningToken: ingress.Secrets{swSecret}}.Validate())
	err := Config{WebhookSecret: ingress.Secrets{""}, SigningToken: ingress.Secrets{swSecret, "whsec_!!"}}.Validate()
	require.ErrorContains(t, err, "webhookSecret: must not be empty")
	require.ErrorContains(t, err, "signingToken[1]: a Standard Webhooks secret must be whsec_ followed by base64")
	require.NotContains(t, err.Error(), swSecret)
}

func TestInspect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		event   string // X-Gitlab-Event; "" for none
		payload string
		wantKey string
		wantErr string
	}{
		{name: "push", event: "Push Hook", payload: `{"object_kind":"push","event_name":"push","project":{"path_with_namespace":"platform/payments"}}`, wantKey: "platform/payments"},
		{name: "tag push", event: "Tag Push Hook", payload: `{"object_kind":"tag_push","event_name":"tag_push"}`},
		{name: "merge request", event: "Merge Request Hook", payload: `{"object_kind":"merge_request","event_type":"merge_request","project":{"path_with_namespace":"platform/payments"}}`, wantKey: "platform/payments"},
		{name: "note", event: "Note Hook", payload: `{"object_kind":"note","event_type":"note"}`},
		{name: "confidential note", event: "Confidential Note Hook", payload: `{"object_kind":"note","event_type":"confidential_note"}`},
		{name: "issue", event: "Issue Hook", payload: `{"object_kind":"issue","event_type":"issue"}`},
		{name: "confidential issue", event: "Confidential Issue Hook", payload: `{"object_kind":"issue","event_type":"confidential_issue"}`},
		{name: "work item", event: "Issue Hook", payload: `{"object_kind":"work_item","event_type":"work_item"}`},
		{name: "pipeline", event: "Pipeline Hook", payload: `{"object_kind":"pipeline"}`},
		{name: "job", event: "Job Hook", payload: `{"object_kind":"build"}`},
		{name: "wiki page", event: "Wiki Page Hook", payload: `{"object_kind":"wiki_page"}`},
		{name: "deployment", event: "Deployment Hook", payload: `{"object_kind":"deployment"}`},
		{name: "release", event: "Release Hook", payload: `{"object_kind":"release"}`},
		{name: "access token", event: "Resource Access Token Hook", payload: `{"object_kind":"access_token","event_name":"expiring_access_token"}`},
		{name: "member", event: "Member Hook", payload: `{"event_name":"user_add_to_group","group_path":"platform"}`},
		{name: "subgroup", event: "Subgroup Hook", payload: `{"event_name":"subgroup_create"}`},
		{name: "system hook", event: "System Hook", payload: `{"event_name":"project_create","path_with_namespace":"platform/new"}`},
		{name: "system hook merge request", event: "System Hook", payload: `{"object_kind":"merge_request","project":{"path_with_namespace":"platform/payments"}}`, wantKey: "platform/payments"},
		{name: "a header not known here", event: "Duo Flow Callback", payload: `{"object_kind":"duo_workflow"}`},
		{name: "no header", payload: `{"object_kind":"push"}`},
		{name: "push header, merge request payload", event: "Push Hook", payload: `{"object_kind":"merge_request"}`,
			wantErr: `X-Gitlab-Event "Push Hook" does not agree with the payload (object_kind "merge_request", event_name "")`},
		{name: "job header, pipeline payload", event: "Job Hook", payload: `{"object_kind":"pipeline"}`, wantErr: "does not agree"},
		{name: "confidential issue header, note payload", event: "Confidential Issue Hook", payload: `{"object_kind":"note"}`, wantErr: "does not agree"},
		{name: "member header, system event", event: "Member Hook", payload: `{"event_name":"project_create"}`, wantErr: "does not agree"},
		{name: "known header, payload without a kind", event: "Merge Request Hook", payload: `{"project":{}}`, wantErr: "does not agree"},
		{name: "object_kind that is not a string", event: "Push Hook", payload: `{"object_kind":["merge_request"],"event_name":"push"}`},
	}
	src := NewSource(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := providertest.Header()
			if tt.event != "" {
				h.Set(HeaderEvent, tt.event)
			}
			key, err := src.Inspect(h, []byte(tt.payload))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantKey, key)
		})
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	src := NewSource(Config{})
	tests := []struct {
		h    http.Header
		want string
	}{
		{h: providertest.Header(HeaderEventUUID, "uuid", HeaderIdempotencyKey, "idem", ingress.HeaderWebhookID, "wid"), want: "idem"},
		{h: providertest.Header(HeaderEventUUID, "uuid", ingress.HeaderWebhookID, "wid"), want: "uuid"},
		{h: providertest.Header(ingress.HeaderWebhookID, "wid"), want: "wid"},
		{h: providertest.Header(), want: ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, src.DeliveryID(tt.h))
	}
}

// FuzzVerify: with both tokens configured, a request passes only with the secret token and a
// Standard Webhooks signature of its exact id, timestamp and body.
func FuzzVerify(f *testing.F) {
	f.Add("tok", swID, swTimestamp, swSignature, []byte(swBody))
	f.Add("tok", swID, swTimestamp, swSignature, []byte(`{"test": 2432232315}`))
	f.Add("tok ", swID, swTimestamp, swSignature, []byte(swBody))
	f.Add("", "", "0", "v1,", []byte{})
	f.Add("tok", "x", "1614265330", "v1a,abc v1,====", []byte("{}"))
	v := NewSource(Config{WebhookSecret: ingress.Secrets{"tok"}, SigningToken: ingress.Secrets{swSecret}}).Verifier
	f.Fuzz(func(t *testing.T, token, id, ts, sig string, body []byte) {
		err := v.Verify(providertest.Header(HeaderToken, token, ingress.HeaderWebhookID, id, ingress.HeaderWebhookTimestamp, ts, ingress.HeaderWebhookSignature, sig), body, swTime)
		forged := token != "tok" || id != swID || ts != swTimestamp || string(body) != swBody
		if err == nil && forged {
			t.Fatalf("accepted a forged request: token %q id %q ts %q body %q", token, id, ts, body)
		}
	})
}

// FuzzInspect: Inspect never panics; it refuses a request only when X-Gitlab-Event is one it
// knows, and never one whose payload kind is what the header says.
func FuzzInspect(f *testing.F) {
	f.Add("Merge Request Hook", []byte(`{"object_kind":"merge_request","project":{"path_with_namespace":"a/b"}}`))
	f.Add("Push Hook", []byte(`{"object_kind":"merge_request"}`))
	f.Add("Member Hook", []byte(`{"event_name":"user_add_to_group"}`))
	f.Add("Job Hook", []byte(`{"object_kind":"build"}`))
	f.Add("", []byte(`[]`))
	src := NewSource(Config{})
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		h := http.Header{HeaderEvent: {event}}
		_, err := src.Inspect(h, payload)
		a, known := hooks[event]
		if err != nil && !known {
			t.Fatalf("refused unknown header %q: %v", event, err)
		}
		if err != nil && a.kinds != nil && a.eventName == "" {
			for _, k := range a.kinds {
				if kind(payload) == k {
					t.Fatalf("refused %q with kind %q: %v", event, k, err)
				}
			}
		}
	})
}
