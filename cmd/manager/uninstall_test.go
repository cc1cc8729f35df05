package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/internal/testutil"
)

// uninstallCommands are the removal commands docs/install.md ("What uninstall leaves
// behind") gives for what the manager created; checkUninstallLeftovers runs their
// equivalent and checks the docs still say them.
var uninstallCommands = []string{
	"kubectl delete configmap -A -l " + render.LabelManagedBy + "=" + render.ManagedBy,
	"kubectl -n taskroute-system delete secret " + certs.DefaultCASecretName,
}

// checkUninstallLeftovers runs after the manager stopped with a pool still in place (as
// after `helm uninstall` without deleting the pools first): the documented selector
// finds exactly the CA Secret and bundle ConfigMap the manager created, nothing of the
// users', and deleting by it leaves none of them.
func checkUninstallLeftovers(t *testing.T, c client.Client, managerNS, poolNS string) {
	t.Helper()
	ctx := context.Background()
	docs, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range uninstallCommands {
		if !strings.Contains(string(docs), cmd) {
			t.Errorf("docs/install.md no longer gives the removal command %q", cmd)
		}
	}
	users := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: poolNS, Name: "users-own"}}
	if err := c.Create(ctx, users); err != nil {
		t.Fatal(err)
	}

	byTaskroute := client.MatchingLabels{render.LabelManagedBy: render.ManagedBy}
	if got := configMapKeys(ctx, t, c, byTaskroute); !slices.Equal(got, []string{poolNS + "/" + certs.DefaultBundleConfigMapName}) {
		t.Errorf("ConfigMaps the documented selector finds = %v, want only the CA bundle of %s", got, poolNS)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: managerNS, Name: certs.DefaultCASecretName}, secret); err != nil {
		t.Fatalf("the CA Secret the docs name is not there: %v", err)
	}
	if secret.Labels[render.LabelManagedBy] != render.ManagedBy {
		t.Errorf("CA Secret labels = %v, want %s=%s", secret.Labels, render.LabelManagedBy, render.ManagedBy)
	}

	// kubectl delete configmap -A -l ...; kubectl -n <ns> delete secret taskroute-ca
	if err := c.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(poolNS), byTaskroute); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if got := configMapKeys(ctx, t, c, byTaskroute); len(got) != 0 {
		t.Errorf("CA bundles left after the documented command: %v", got)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(users), &corev1.ConfigMap{}); err != nil {
		t.Errorf("the documented command removed a user's ConfigMap: %v", err)
	}
}

func configMapKeys(ctx context.Context, t *testing.T, c client.Client, sel client.MatchingLabels) []string {
	t.Helper()
	list := &corev1.ConfigMapList{}
	if err := c.List(ctx, list, sel); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, cm := range list.Items {
		keys = append(keys, cm.Namespace+"/"+cm.Name)
	}
	slices.Sort(keys)
	return keys
}
