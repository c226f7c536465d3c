// Package providertest is the test harness of the provider modules: an ingress on a recording
// bus for payload → event mappings and their golden files ([NewIngress], [Golden]), and an
// application of the real modules for end-to-end tests ([Start], [StartError]).
package providertest
