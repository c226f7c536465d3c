// Package config loads Stagebus's Backstage-style app-config.yaml files and decodes the
// sections that modules own into typed structs.
//
// # Layers
//
// The files given by repeated --config flags are read in order, or app-config.yaml then
// app-config.local.yaml (when present) by default; a later file wins. Objects deep-merge,
// scalars and arrays replace, and null means "explicitly unset": the key is absent from the
// effective configuration and is not taken from an earlier file. Environment variables named
// APP_CONFIG_<path with _ for .> (for example APP_CONFIG_backend_listen_port=7008) form the
// last layer; their value is parsed as JSON, else taken as a string.
//
// # Substitutions
//
// In string values ${VAR} and ${VAR:-default} are replaced by the environment variable (the
// default applies when VAR is unset or empty) and $${ is a literal ${. A value that names an
// unset variable without a default is absent, as in Backstage, so a lower layer still applies.
// An object with the single key $env (variable name), $file (file contents, one trailing
// newline removed) or $include (file.yaml, file.yml or file.json, optionally #dot.path) is
// replaced by what it names; paths are relative to the file that contains them.
//
// # Sections
//
// A module owns a key path with [Provide]: its struct is filled with defaults (a pointer
// SetDefaults method), decoded from the tree, then checked by its Validate method. Unknown keys
// and wrong types inside owned sections are [Problem]s that name the file, line and key path,
// with the nearest valid key for a typo; all of them are reported at once as [Problems]. A
// top-level key that no module owns is only a warning, because a Backstage operator's file also
// carries sections such as app and organization.
//
// # Secrets
//
// Values of type [Secret], and fields tagged `secret:"true"`, are replaced by [Redacted] when
// the configuration is printed; Secret also redacts itself when formatted or logged.
package config
