package compat_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// catalogInfo is acme/artist-web's catalog file.
const catalogInfo = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: artist-web
  tags: [java]
spec:
  type: website
  lifecycle: production
  owner: team-a
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
`

// TestCatalogClient runs every public method of @backstage/catalog-client, in version 1.6.1
// (Backstage 1.24's) and in the latest version the lock file pins, against Stagebus
// (catalog.mjs says what each must return).
func TestCatalogClient(t *testing.T) {
	t.Parallel()
	dir := npmProject(t)
	for _, tc := range []struct {
		client string
		want   []string
	}{
		{"catalog-client-1.6.1", []string{"addLocation", "getEntities", "getEntityByRef", "getEntityByName", "getEntitiesByRefs",
			"queryEntities", "getEntityAncestors", "getEntityFacets", "refreshEntity", "getLocationById", "getLocationByRef",
			"getLocationByEntity", "validateEntity", "removeEntityByUid", "removeLocationById"}},
		{"@backstage/catalog-client", []string{"addLocation", "getEntities", "getEntityByRef", "getEntityByName", "getEntitiesByRefs",
			"queryEntitiesByPredicate", "queryEntities", "streamEntities", "getEntityAncestors", "getEntityFacetsByPredicate",
			"getEntityFacets", "refreshEntity", "getLocationById", "getLocationByRef", "getLocationByEntity", "validateEntity",
			"getLocations", "queryLocations", "streamLocations", "analyzeLocation", "updateLocation", "removeEntityByUid", "removeLocationById"}},
	} {
		t.Run(tc.client, func(t *testing.T) {
			t.Parallel()
			s := start(t, "", "")
			s.github.put("acme/artist-web", "catalog-info.yaml", catalogInfo)
			s.github.put("acme/second", "catalog-info.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: second\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n")
			s.github.put("acme/empty", "README.md", "# empty\n")
			checked := node(t, dir, "catalog.mjs", "CLIENT="+tc.client, "BASE_URL="+s.url, "TOKEN="+s.guestToken(),
				"GITHUB="+s.github.srv.URL, "HOST="+githubHost)
			require.Equal(t, tc.want, checked)
		})
	}
}
