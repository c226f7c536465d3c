package github

import (
	"net/http"

	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/providers/internal/webhook"
)

// Topic is the ingress topic of GitHub webhooks.
const Topic = "github"

// GitHub's headers.
const (
	HeaderSignature = "X-Hub-Signature-256"
	// HeaderSignatureSHA1 is the legacy SHA-1 signature GitHub sends beside the SHA-256 one;
	// it is not checked, but it is a signature, so it is kept out of event metadata.
	HeaderSignatureSHA1 = "X-Hub-Signature"
	HeaderDelivery      = "X-GitHub-Delivery"
	HeaderEvent         = "X-GitHub-Event"
)

// SecretKey is the configuration key of the webhook secret.
const SecretKey = "events.modules.github.webhookSecret"

// Events are the X-GitHub-Event values GitHub documents, from "Webhook events and payloads"
// (https://docs.github.com/en/webhooks/webhook-events-and-payloads). Only these get a
// sub-topic github.<event>; events.http.topicOptions.github.subTopics adds newer ones.
var Events = []string{
	"branch_protection_configuration", "branch_protection_rule", "check_run", "check_suite",
	"code_scanning_alert", "commit_comment", "create", "custom_property", "custom_property_values",
	"delete", "dependabot_alert", "deploy_key", "deployment", "deployment_protection_rule",
	"deployment_review", "deployment_status", "discussion", "discussion_comment", "fork",
	"github_app_authorization", "gollum", "installation", "installation_repositories",
	"installation_target", "issue_comment", "issue_dependencies", "issues", "label",
	"marketplace_purchase", "member", "membership", "merge_group", "meta", "milestone",
	"org_block", "organization", "package", "page_build", "personal_access_token_request", "ping",
	"project", "project_card", "project_column", "projects_v2", "projects_v2_item",
	"projects_v2_status_update", "public", "pull_request", "pull_request_review",
	"pull_request_review_comment", "pull_request_review_thread", "push", "registry_package",
	"release", "repository", "repository_advisory", "repository_dispatch", "repository_import",
	"repository_ruleset", "repository_vulnerability_alert", "secret_scanning_alert",
	"secret_scanning_alert_location", "secret_scanning_scan", "security_advisory",
	"security_and_analysis", "sponsorship", "star", "status", "sub_issues", "team", "team_add",
	"watch", "workflow_dispatch", "workflow_job", "workflow_run",
}

// Config is events.modules.github.
type Config struct {
	// WebhookSecret is the secret of the GitHub webhook, or a list of secrets while rotating.
	WebhookSecret ingress.Secrets `yaml:"webhookSecret"`
}

// Validate refuses empty secrets.
func (c Config) Validate() error { return webhook.ValidateSecrets("webhookSecret", c.WebhookSecret) }

// NewSource returns the ingress source of the github topic; its Verifier is nil when no secret
// is configured.
func NewSource(cfg Config) ingress.Source {
	return ingress.Source{
		Topic:           Topic,
		Verifier:        webhook.HMAC([]string{HeaderSignature}, "sha256=", cfg.WebhookSecret),
		DeliveryID:      ingress.HeaderDeliveryID(HeaderDelivery),
		Inspect:         inspect,
		EventName:       webhook.FromHeader(HeaderEvent),
		EventNameSource: ingress.FromUnsignedHeader,

		KnownEvents:      Events,
		SignatureHeaders: []string{HeaderSignature, HeaderSignatureSHA1},
		Secrets:          []ingress.SecretSetting{{Key: SecretKey, Values: cfg.WebhookSecret}},
	}
}

// inspect returns the repository's full name, else the organisation's login.
func inspect(_ http.Header, payload []byte) (string, error) {
	if k := webhook.String(payload, "repository.full_name"); k != "" {
		return k, nil
	}
	return webhook.String(payload, "organization.login"), nil
}

// Module provides the github ingress source from events.modules.github; with it the ingress
// verifies GitHub's deliveries and publishes each on github and its sub-topic. GitHub's
// catalog side — the entity provider and the
// URL reader — is the discovery package's module.
var Module = fx.Module("providers/github",
	config.Provide[Config]("events.modules.github"),
	fx.Provide(ingress.AsSource(NewSource)),
)
