// Pins the projects whose CustomResourceDefinitions the tests install (tests/tools/crds.sh).
// Nothing is built from these modules: only their CRD manifests are copied out.
module reload-safe/tests/tools/crds

go 1.26

require (
	github.com/argoproj/argo-rollouts v1.10.1
	github.com/kyverno/kyverno v1.19.1
	github.com/openreports/reports-api v0.2.1
)
