package quotawatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
	envtestutil "github.com/taskroute/taskroute/internal/testutil"
)

var (
	envCluster *envtestutil.Cluster
	restConfig *rest.Config
	k8sClient  client.Client
)

func TestMain(m *testing.M) {
	envtestutil.RunMain(m, func(c *envtestutil.Cluster) error {
		envCluster, restConfig, k8sClient = c, c.Config, c.Client
		return nil
	})
}

// grantManagerRBAC gives user exactly what the shipped Role config/rbac/quotas_role.yaml
// grants (in ns), plus creating events; the manager then runs as user, so a watch wider
// than the one ConfigMap would be forbidden.
func grantManagerRBAC(t *testing.T, ns, user string) {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "rbac", "quotas_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{}
	if err := yaml.UnmarshalStrict(b, role); err != nil {
		t.Fatal(err)
	}
	role.Namespace = ns
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}})
	if err := k8sClient.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := k8sClient.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
}

// admit runs the real engine's admission of one task of size bytes in ns.
func admit(e *matching.Engine, ns string, size int) error {
	release, err := e.AdmitAdds([]*matchingv1.TaskSpec{{Namespace: ns, Queue: "q", TaskType: "t", Payload: make([]byte, size)}})
	if err == nil {
		release()
	}
	return err
}

// eventually polls cond for up to 10s: a change must apply within seconds.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func accepted(e *matching.Engine, ns string, size int) func() error {
	return func() error {
		if err := admit(e, ns, size); err != nil {
			return fmt.Errorf("%d bytes in %s refused: %v", size, ns, err)
		}
		return nil
	}
}

func refused(e *matching.Engine, ns string, size int, source string) func() error {
	return func() error {
		err := admit(e, ns, size)
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), source) {
			return fmt.Errorf("%d bytes in %s: got %v, want ResourceExhausted naming %s", size, ns, err, source)
		}
		return nil
	}
}

func TestWatcherAppliesConfigMap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgrNS := envCluster.NewNamespace(t, "taskroute-system")
	const user = "quota-watcher"
	grantManagerRBAC(t, mgrNS, user)

	// The real engine on Pebble, started with the flags' quotas as the manager does.
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := Base{Default: matching.Quota{MaxPayloadBytes: 1000}}
	engine, err := matching.New(st, matching.Options{Quotas: Merge(base, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()

	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: envtestutil.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &Watcher{Namespace: mgrNS, Base: base, Engine: engine,
		Recorder: mgr.GetEventRecorder("quota-config"), Log: zap.New(zap.UseDevMode(true))}
	if err := w.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	// Decoys: another ConfigMap in the manager's namespace and a taskroute-quotas elsewhere.
	other := envCluster.NewNamespace(t, "tenant")
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "not-quotas", Namespace: mgrNS}, Data: map[string]string{"team-a": "maxPayloadBytes: 1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: other}, Data: map[string]string{"team-a": "maxPayloadBytes: 1"}},
	} {
		if err := k8sClient.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "flags before the ConfigMap", accepted(engine, "team-a", 800))
	eventually(t, "flags before the ConfigMap", refused(engine, "team-a", 1500, "--quota-max-payload-bytes"))

	// Create: team-a lowered, the default raised.
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: mgrNS},
		Data:       map[string]string{"team-a": "maxPayloadBytes: 500", "_default": `{"maxPayloadBytes": 2000}`},
	}
	start := time.Now()
	if err := k8sClient.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	overrideA := `maxPayloadBytes of namespace "team-a" in ConfigMap taskroute-quotas`
	eventually(t, "override after create", refused(engine, "team-a", 800, overrideA))
	t.Logf("applied %v after the create", time.Since(start).Round(time.Millisecond))
	eventually(t, "default key after create", accepted(engine, "team-b", 1500))
	if err := refused(engine, "team-b", 2500, "payload quota of 2000 bytes")(); err != nil {
		t.Fatal(err)
	}

	// Update: team-a raised.
	cm.Data["team-a"] = "maxPayloadBytes: 5000"
	if err := k8sClient.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "override after update", accepted(engine, "team-a", 3000))

	// Bad values: team-a's negative number and team-b's unknown field keep their previous
	// quotas (team-b had none: the default); the good default key still applies.
	errorsBefore := testutil.ToFloat64(configErrors)
	cm.Data = map[string]string{"team-a": "maxPayloadBytes: -1", "team-b": "maxPayloadByts: 10", "_default": "maxPayloadBytes: 100"}
	if err := k8sClient.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "good default key next to bad keys", refused(engine, "team-c", 150, "payload quota of 100 bytes"))
	if err := accepted(engine, "team-a", 3000)(); err != nil {
		t.Fatalf("team-a lost its previous quota on a bad value: %v", err)
	}
	if err := refused(engine, "team-b", 150, "payload quota of 100 bytes")(); err != nil {
		t.Fatalf("team-b: %v", err)
	}
	if got := testutil.ToFloat64(configErrors) - errorsBefore; got != 2 {
		t.Fatalf("taskroute_quota_config_errors_total grew by %v, want 2", got)
	}
	eventually(t, "InvalidQuota event", func() error {
		var list eventsv1.EventList
		if err := k8sClient.List(ctx, &list, client.InNamespace(mgrNS)); err != nil {
			return err
		}
		var notes []string
		for _, ev := range list.Items {
			if ev.Reason == EventInvalidQuota && ev.Regarding.Name == ConfigMapName {
				notes = append(notes, ev.Note)
			}
		}
		all := strings.Join(notes, "\n")
		if !strings.Contains(all, `key "team-a": field "maxPayloadBytes"`) || !strings.Contains(all, `key "team-b": field "maxPayloadByts"`) {
			return fmt.Errorf("events %q do not name both bad keys and fields", notes)
		}
		return nil
	})

	// Delete: back to the flags.
	if err := k8sClient.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "flags after delete", refused(engine, "team-a", 1500, "--quota-max-payload-bytes"))
	for _, check := range []func() error{
		accepted(engine, "team-a", 800), accepted(engine, "team-c", 800),
		refused(engine, "team-b", 1500, "--quota-max-payload-bytes"),
	} {
		if err := check(); err != nil {
			t.Fatal(err)
		}
	}
}
