//go:build tools

// Package k8stools pins the Kubernetes manifest tools `make test` builds into .local/
// (deploy/local/k8s-tools.sh): kustomize renders deploy/k8s, kubeconform validates it.
package k8stools

import (
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
