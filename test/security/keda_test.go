package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/certs"
)

// TestKEDAReadsTheBacklogWithAClientCertificate: KEDA, which cannot send a token, reads a
// queue's backlog from the real server over TLS with a client certificate of the client
// CA, in the namespace its user was granted and nowhere else.
func TestKEDAReadsTheBacklogWithAClientCertificate(t *testing.T) {
	apps, other := cluster.NewNamespace(t, "keda-apps"), cluster.NewNamespace(t, "keda-other")
	clientCA, err := certs.NewCA("keda-clients", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kedaCert, err := certs.IssueClient(clientCA, "keda-operator", []string{"keda"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	srv := startServerWithClientCAs(t, pool)
	grantGet(t, apps, "keda-operator")

	newServiceAccount(t, apps, "producer")
	producer := dial(t, srv.addr, srv.caFile, requestToken(t, apps, "producer", auth.DefaultAudience, nil))
	if _, err := producer.AddTask(callCtx(t), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: apps, Queue: "media", TaskType: "encode"}}); err != nil {
		t.Fatal(err)
	}

	keda := kedaClient(t, srv, kedaCert)
	ref := &esv1.ScaledObjectRef{Name: "media", Namespace: apps, ScalerMetadata: map[string]string{"queue": "media"}}
	deadline := time.Now().Add(10 * time.Second) // RBAC sees the new binding a moment later
	for {
		res, err := keda.GetMetrics(callCtx(t), &esv1.GetMetricsRequest{ScaledObjectRef: ref, MetricName: "taskroute-backlog"})
		if err == nil {
			if v := res.MetricValues[0].MetricValueFloat; v != 1 {
				t.Fatalf("backlog = %v, want 1", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stream, err := keda.StreamIsActive(callCtx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := stream.Recv(); err != nil || !res.Result {
		t.Fatalf("StreamIsActive = %v, %v; want true", res, err)
	}

	_, err = keda.IsActive(callCtx(t), &esv1.ScaledObjectRef{Namespace: other, ScalerMetadata: map[string]string{"queue": "media"}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("another namespace: %v, want PermissionDenied", err)
	}
	_, err = kedaClient(t, srv, nil).IsActive(callCtx(t), ref)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no certificate and no token: %v, want Unauthenticated", err)
	}
}

// kedaClient dials as KEDA's external scaler does with enableTLS and a
// TriggerAuthentication's caCert, tlsClientCert and tlsClientKey (cert nil: none).
func kedaClient(t *testing.T, srv *matchingServer, cert *certs.KeyPair) esv1.ExternalScalerClient {
	t.Helper()
	bundle, err := os.ReadFile(srv.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if cert != nil {
		pair, err := cert.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{*pair}
	}
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(grpccreds.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return esv1.NewExternalScalerClient(conn)
}

// grantGet lets user read the backlogs of ns (verb get on the namespace's queues).
func grantGet(t *testing.T, ns, user string) {
	t.Helper()
	ctx := context.Background()
	role, err := kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "keda-reads-backlog"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{auth.QueueGroup}, Resources: []string{auth.QueueResource}, Verbs: []string{auth.VerbGet}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
