// Package providertest is the test harness of the provider modules: an ingress on a recording
// bus for payload → event mappings, the sub-topic event the ingress publishes with each event
// and their golden files ([NewIngress], [RequireSubTopic], [Golden]), and an application of
// the real modules for end-to-end tests ([Start], [StartError]).
package providertest
