package gitlab

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// Topic is the ingress topic of GitLab webhooks.
const Topic = "gitlab"

// GitLab's headers (the Standard Webhooks ones are ingress.HeaderWebhookID and its siblings).
const (
	HeaderToken          = "X-Gitlab-Token"
	HeaderEvent          = "X-Gitlab-Event"
	HeaderEventUUID      = "X-Gitlab-Event-UUID"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// The configuration keys of the secrets.
const (
	SecretKey       = "events.modules.gitlab.webhookSecret"
	SigningTokenKey = "events.modules.gitlab.signingToken"
)

// Events are the names the ingress publishes gitlab sub-topics for: the object_kind values of
// project and group webhooks ("Webhook events",
// https://docs.gitlab.com/user/project/integrations/webhook_events/), and the event_name
// values of group member, subgroup and project events and of system hooks ("System hooks",
// https://docs.gitlab.com/administration/system_hooks/). Only these get a sub-topic
// gitlab.<name>; events.http.topicOptions.gitlab.subTopics adds newer ones.
var Events = []string{
	// object_kind
	"push", "tag_push", "issue", "work_item", "note", "merge_request", "wiki_page", "pipeline",
	"build", "deployment", "feature_flag", "release", "emoji", "access_token", "milestone",
	"vulnerability", "gitlab_subscription_member_approval", "gitlab_subscription_member_approvals",
	// event_name of group webhooks without object_kind
	"user_add_to_group", "user_remove_from_group", "user_update_for_group",
	"user_access_request_to_group", "user_access_request_revoked_for_group",
	"subgroup_create", "subgroup_destroy", "project_create", "project_destroy",
	// event_name of system hooks
	"group_create", "group_destroy", "group_rename", "key_create", "key_destroy",
	"project_rename", "project_transfer", "project_update", "repository_update",
	"user_access_request_to_project", "user_access_request_revoked_for_project",
	"user_add_to_team", "user_remove_from_team", "user_update_for_team",
	"user_create", "user_destroy", "user_failed_login", "user_rename",
}

// Config is events.modules.gitlab.
type Config struct {
	// WebhookSecret is the webhook's secret token (X-Gitlab-Token), or a list while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
	// SigningToken is the webhook's signing token (whsec_…, Standard Webhooks), or a list while
	// rotating.
	SigningToken ingress.Secrets `yaml:"signingToken"`
}

// Validate refuses empty secrets and signing tokens that are not whsec_ followed by base64.
func (c Config) Validate() error {
	errs := []error{webhook.ValidateSecrets("webhookSecret", c.WebhookSecret)}
	for i, s := range c.SigningToken {
		if _, err := ingress.StandardWebhooksKey(s.Value()); err != nil {
			key := "signingToken"
			if len(c.SigningToken) > 1 {
				key = fmt.Sprintf("%s[%d]", key, i)
			}
			errs = append(errs, config.Fieldf(key, "%v", err))
		}
	}
	return errors.Join(errs...)
}

// NewSource returns the ingress source of the gitlab topic. Its Verifier checks the secret
// token, the signing token, or both (all must pass); it is nil when neither is configured.
func NewSource(cfg Config) ingress.Source {
	var vs ingress.AllOf
	if len(cfg.WebhookSecret) > 0 {
		vs = append(vs, ingress.TokenVerifier{Header: HeaderToken, Tokens: cfg.WebhookSecret})
	}
	if len(cfg.SigningToken) > 0 {
		vs = append(vs, ingress.StandardWebhooksVerifier{Secrets: cfg.SigningToken})
	}
	s := ingress.Source{
		Topic: Topic,
		// Idempotency-Key stays the same across GitLab's retries of one delivery, which is
		// what deduplication needs; X-Gitlab-Event-UUID may be shared by the several hooks
		// one action triggers, so it comes only when the key is missing (GitLab < 17.4).
		DeliveryID:      ingress.HeaderDeliveryID(HeaderIdempotencyKey, HeaderEventUUID, ingress.HeaderWebhookID),
		Inspect:         inspect,
		EventName:       func(_ http.Header, payload []byte) string { return kind(payload) },
		EventNameSource: ingress.FromPayload,

		KnownEvents: Events,
		// The secret token is the shared secret itself; webhook-signature is the signing
		// token's signature.
		SignatureHeaders: []string{HeaderToken, ingress.HeaderWebhookSignature},
		Secrets: []ingress.SecretSetting{
			{Key: SecretKey, Values: cfg.WebhookSecret},
			{Key: SigningTokenKey, Values: cfg.SigningToken},
		},
	}
	switch len(vs) {
	case 1:
		s.Verifier = vs[0]
	case 2:
		s.Verifier = vs
	}
	return s
}

// kind returns what an event is about: its object_kind, else its event_name (system hooks and
// group events have only the latter).
func kind(payload []byte) string {
	if k := webhook.String(payload, "object_kind"); k != "" {
		return k
	}
	return webhook.String(payload, "event_name")
}

// accepts says which payloads one X-Gitlab-Event value carries: those whose kind is one of
// kinds, or (for group events, which have no object_kind) whose event_name starts with
// eventName; neither means every payload.
type accepts struct {
	kinds     []string
	eventName string
}

func (a accepts) match(payload []byte) bool {
	switch {
	case a.eventName != "":
		return strings.HasPrefix(webhook.String(payload, "event_name"), a.eventName)
	case a.kinds != nil:
		return slices.Contains(a.kinds, kind(payload))
	}
	return true
}

// hooks maps X-Gitlab-Event values to the payloads they carry. A value missing here is
// accepted with any payload: refusing a legitimate delivery makes GitLab disable the webhook,
// so only pairs known for certain are listed.
var hooks = map[string]accepts{
	"Push Hook":                  {kinds: []string{"push"}},
	"Tag Push Hook":              {kinds: []string{"tag_push"}},
	"Issue Hook":                 {kinds: []string{"issue", "work_item"}},
	"Confidential Issue Hook":    {kinds: []string{"issue", "work_item"}},
	"Note Hook":                  {kinds: []string{"note"}},
	"Confidential Note Hook":     {kinds: []string{"note"}},
	"Merge Request Hook":         {kinds: []string{"merge_request"}},
	"Wiki Page Hook":             {kinds: []string{"wiki_page"}},
	"Pipeline Hook":              {kinds: []string{"pipeline"}},
	"Job Hook":                   {kinds: []string{"build"}},
	"Build Hook":                 {kinds: []string{"build"}}, // Job Hook's older name
	"Deployment Hook":            {kinds: []string{"deployment"}},
	"Release Hook":               {kinds: []string{"release"}},
	"Feature Flag Hook":          {kinds: []string{"feature_flag"}},
	"Emoji Hook":                 {kinds: []string{"emoji"}},
	"Resource Access Token Hook": {kinds: []string{"access_token"}},
	"Member Hook":                {eventName: "user_"},
	"Subgroup Hook":              {eventName: "subgroup_"},
	"Project Hook":               {eventName: "project_"},
	"System Hook":                {},
	"Service Hook":               {},
}

// inspect returns the project's path and checks that X-Gitlab-Event, which GitLab does not
// sign, agrees with the payload.
func inspect(h http.Header, payload []byte) (string, error) {
	if event := h.Get(HeaderEvent); event != "" {
		if a, known := hooks[event]; known && !a.match(payload) {
			return "", fmt.Errorf("%s %q does not agree with the payload (object_kind %q, event_name %q)", HeaderEvent, event,
				webhook.Clip(webhook.String(payload, "object_kind")), webhook.Clip(webhook.String(payload, "event_name")))
		}
	}
	return webhook.String(payload, "project.path_with_namespace"), nil
}

// Module provides the gitlab ingress source from events.modules.gitlab; with it the ingress
// verifies GitLab's deliveries and publishes each on gitlab and its sub-topic.
var Module = fx.Module("providers/gitlab",
	config.Provide[Config]("events.modules.gitlab"),
	fx.Provide(ingress.AsSource(NewSource)),
)
