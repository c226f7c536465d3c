package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.uber.org/fx"
)

// Validators are the field rules an entity must pass; Backstage's defaults are
// [DefaultValidators]. Each returns true for a valid value.
type Validators struct {
	APIVersion      func(string) bool
	Kind            func(string) bool
	EntityName      func(string) bool
	Namespace       func(string) bool
	LabelKey        func(string) bool
	LabelValue      func(string) bool
	AnnotationKey   func(string) bool
	AnnotationValue func(string) bool
	Tag             func(string) bool
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	objectName   = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	kindPattern  = regexp.MustCompile(`^[a-zA-Z][a-z0-9A-Z]*$`)
	versionPart  = regexp.MustCompile(`^[a-zA-Z0-9]{1,63}$`)
	tagPattern   = regexp.MustCompile(`^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$`)
)

func isDNSLabel(s string) bool     { return len(s) <= 63 && dnsLabel.MatchString(s) }
func isDNSSubdomain(s string) bool { return len(s) <= 253 && dnsSubdomain.MatchString(s) }
func isObjectName(s string) bool   { return len(s) <= 63 && objectName.MatchString(s) }

// prefixedKey is Kubernetes's qualified name: an optional DNS subdomain prefix and "/", then
// an object name.
func prefixedKey(s string) bool {
	prefix, name, ok := strings.Cut(s, "/")
	if !ok {
		return isObjectName(s)
	}
	return isDNSSubdomain(prefix) && isObjectName(name)
}

// DefaultValidators are Backstage's default rules (KubernetesValidatorFunctions).
func DefaultValidators() Validators {
	return Validators{
		APIVersion: func(s string) bool {
			group, version, ok := strings.Cut(s, "/")
			return ok && isDNSSubdomain(group) && versionPart.MatchString(version)
		},
		Kind:            func(s string) bool { return len(s) <= 63 && kindPattern.MatchString(s) },
		EntityName:      isObjectName,
		Namespace:       isDNSLabel,
		LabelKey:        prefixedKey,
		LabelValue:      func(s string) bool { return s == "" || isObjectName(s) },
		AnnotationKey:   prefixedKey,
		AnnotationValue: func(string) bool { return true },
		Tag:             func(s string) bool { return len(s) >= 1 && len(s) <= 63 && tagPattern.MatchString(s) },
	}
}

// merge lays the set fields of o over v.
func (v Validators) merge(o Validators) Validators {
	pick := func(a, b func(string) bool) func(string) bool {
		if b != nil {
			return b
		}
		return a
	}
	return Validators{
		APIVersion: pick(v.APIVersion, o.APIVersion), Kind: pick(v.Kind, o.Kind), EntityName: pick(v.EntityName, o.EntityName),
		Namespace: pick(v.Namespace, o.Namespace), LabelKey: pick(v.LabelKey, o.LabelKey), LabelValue: pick(v.LabelValue, o.LabelValue),
		AnnotationKey: pick(v.AnnotationKey, o.AnnotationKey), AnnotationValue: pick(v.AnnotationValue, o.AnnotationValue), Tag: pick(v.Tag, o.Tag),
	}
}

// ValidationError lists everything wrong with one entity.
type ValidationError struct {
	Ref      string
	Problems []string
}

// Error joins the problems.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("entity %s is invalid: %s", e.Ref, strings.Join(e.Problems, "; "))
}

// Validate checks an entity against the validators, reporting every problem.
func (v Validators) Validate(e Entity) error {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if !v.APIVersion(e.APIVersion) {
		add("apiVersion %q is not valid; use e.g. backstage.io/v1alpha1", e.APIVersion)
	}
	if !v.Kind(e.Kind) {
		add("kind %q is not valid; use letters and digits, starting with a letter", e.Kind)
	}
	if !v.EntityName(e.Metadata.Name) {
		add("metadata.name %q is not valid; use up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", e.Metadata.Name)
	}
	if ns := e.Metadata.Namespace; ns != "" && !v.Namespace(ns) {
		add("metadata.namespace %q is not valid; use a lower-case DNS label", ns)
	}
	for k, val := range e.Metadata.Labels {
		if !v.LabelKey(k) {
			add("metadata.labels key %q is not valid", k)
		}
		if !v.LabelValue(val) {
			add("metadata.labels.%s value %q is not valid", k, val)
		}
	}
	for k, val := range e.Metadata.Annotations {
		if !v.AnnotationKey(k) {
			add("metadata.annotations key %q is not valid", k)
		}
		if !v.AnnotationValue(val) {
			add("metadata.annotations.%s value is not valid", k)
		}
	}
	for _, t := range e.Metadata.Tags {
		if !v.Tag(t) {
			add("metadata.tags entry %q is not valid; use lower-case letters, digits and ':+#', separated by '-'", t)
		}
	}
	for i, l := range e.Metadata.Links {
		if l.URL == "" {
			add("metadata.links[%d] needs a url", i)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Ref: e.Ref().String(), Problems: ps}
}

// Location is where entities were read from. EntityRef is the ref of the Location entity that
// stands for it in the catalog (location:default/generated-…), as newer Backstage versions
// report it.
type Location struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Target    string `json:"target"`
	EntityRef string `json:"entityRef,omitempty"`
}

// Parser turns the raw data of a location into entities (Backstage's entity data parser).
type Parser func(ctx context.Context, loc Location, data []byte) ([]Entity, error)

// ModelExtension is Backstage 1.24's catalogModelExtensionPoint: a module replaces some field
// validators (the others keep Backstage's rules) and/or the entity data parser.
type ModelExtension struct {
	// Name identifies the module in errors.
	Name       string
	Validators Validators
	Parser     Parser
}

// AsModelExtension annotates a constructor returning a ModelExtension so that it joins the
// "catalog.model" group.
func AsModelExtension(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"catalog.model"`))
}

// Model is the effective validators and parser.
type Model struct {
	Validators Validators
	Parser     Parser
}

// NewModel applies the extensions to the defaults; two extensions replacing the parser is an
// error.
func NewModel(exts []ModelExtension) (Model, error) {
	m := Model{Validators: DefaultValidators(), Parser: ParseYAML}
	parserFrom := ""
	for _, x := range exts {
		m.Validators = m.Validators.merge(x.Validators)
		if x.Parser != nil {
			if parserFrom != "" {
				return Model{}, errors.New("catalog: both " + parserFrom + " and " + x.Name + " replace the entity data parser")
			}
			parserFrom, m.Parser = x.Name, x.Parser
		}
	}
	return m, nil
}
