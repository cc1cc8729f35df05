package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// WorkerOptions configure StartWorkerForPod.
type WorkerOptions struct {
	// Binary is the worker executable (e.g. built by GoBuild from test/matching/testworker).
	Binary string
	// MatchingAddress replaces the pod's TASKROUTE_ADDRESS (a cluster DNS name the local
	// process cannot resolve) with the manager's loopback address.
	MatchingAddress string
	// Container is the container whose env is taken; empty means the first one.
	Container string
	// Audience of the pod-bound token; empty means the matching service's default.
	Audience string
	// TokenTTL of the pod-bound token; 0 means one hour, as the operator's projection.
	TokenTTL time.Duration
	// Env is added after the pod's env (it wins): worker-specific settings such as
	// TESTWORKER_TYPES.
	Env []string
}

// Worker is a local process that impersonates a worker pod.
type Worker struct {
	// Name is the process name (logs/<Name>.log, StopProcess).
	Name string
	// Pod and Node are the pod it impersonates and the node the scheduler put it on.
	Pod, Node string
	// Dir holds its token and CA bundle.
	Dir string
	// LogFile is its stdout and stderr.
	LogFile string
	// PID is the process's id, also its process group's (for checks that nothing is left).
	PID int
}

// StartWorkerForPod runs a worker as a local process that impersonates pod, since kwok
// pods run no containers: its environment is the container's rendered env (downward-API
// fields resolved from the pod object, so TASKROUTE_WORKER_ID is the pod's name and
// TASKROUTE_NODE_NAME its node), with TASKROUTE_ADDRESS pointing at the local manager, a
// real token from the TokenRequest API bound to the pod (what the kubelet would project)
// as TASKROUTE_TOKEN_FILE, and the CA bundle the manager published in the pod's namespace
// (ConfigMap taskroute-ca) as TASKROUTE_CA_FILE. Cluster.Stop or StopProcess(w.Name)
// ends it, with its whole process group.
func (c *Cluster) StartWorkerForPod(ctx context.Context, pod *corev1.Pod, o WorkerOptions) (*Worker, error) {
	if pod.Spec.NodeName == "" {
		return nil, fmt.Errorf("pod %s/%s is not scheduled", pod.Namespace, pod.Name)
	}
	container, err := podContainer(pod, o.Container)
	if err != nil {
		return nil, err
	}
	env, err := resolveEnv(pod, container.Env)
	if err != nil {
		return nil, err
	}
	w := &Worker{Name: "worker-" + pod.Namespace + "-" + pod.Name, Pod: pod.Name, Node: pod.Spec.NodeName}
	w.Dir = filepath.Join(c.WorkDir, "workers", pod.Namespace, pod.Name)
	w.LogFile = c.LogFile(w.Name)
	if err := os.MkdirAll(w.Dir, 0o700); err != nil {
		return nil, err
	}

	token, err := c.PodToken(ctx, pod, o.Audience, o.TokenTTL)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(w.Dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	caFile := filepath.Join(w.Dir, "ca.crt")
	if err := c.WriteCABundle(ctx, pod.Namespace, caFile); err != nil {
		return nil, err
	}
	env = append(env,
		workerenv.Address+"="+o.MatchingAddress,
		workerenv.TokenFile+"="+tokenFile,
		workerenv.CAFile+"="+caFile,
	)
	env = append(env, o.Env...)
	if err := c.StartProcess(w.Name, env, o.Binary); err != nil {
		return nil, err
	}
	w.PID = c.procs[len(c.procs)-1].cmd.Process.Pid
	return w, nil
}

// PodToken returns a ServiceAccount token of the pod's ServiceAccount bound to the pod
// (TokenRequest with boundObjectRef kind Pod), as the kubelet projects it: TokenReview
// then reports the pod's name and UID, and the token dies with the pod.
func (c *Cluster) PodToken(ctx context.Context, pod *corev1.Pod, audience string, ttl time.Duration) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	ref := &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	return c.requestToken(ctx, pod.Namespace, sa, audience, ttl, ref)
}

// ServiceAccountToken returns a token of a ServiceAccount bound to no object, as
// `kubectl create token` gives callers outside the cluster (CLIs, services).
func (c *Cluster) ServiceAccountToken(ctx context.Context, namespace, serviceAccount, audience string, ttl time.Duration) (string, error) {
	return c.requestToken(ctx, namespace, serviceAccount, audience, ttl, nil)
}

func (c *Cluster) requestToken(ctx context.Context, namespace, sa, audience string, ttl time.Duration, ref *authenticationv1.BoundObjectReference) (string, error) {
	if audience == "" {
		audience = auth.DefaultAudience
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	seconds := int64(ttl / time.Second)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &seconds,
		BoundObjectRef:    ref,
	}}
	out, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token of ServiceAccount %s/%s: %w", namespace, sa, err)
	}
	return out.Status.Token, nil
}

// WriteCABundle waits for the manager to publish the matching CA bundle in namespace and
// writes it to path.
func (c *Cluster) WriteCABundle(ctx context.Context, namespace, path string) error {
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var bundle string
	err := c.waitFor(waitCtx, "ConfigMap "+namespace+"/"+certs.DefaultBundleConfigMapName, func(ctx context.Context) (bool, error) {
		cm, err := c.Client.CoreV1().ConfigMaps(namespace).Get(ctx, certs.DefaultBundleConfigMapName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		bundle = cm.Data[certs.BundleKey]
		return bundle != "", nil
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(bundle), 0o600)
}

func podContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for i := range pod.Spec.Containers {
		if name == "" || pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s has no container %q", pod.Namespace, pod.Name, name)
}

// resolveEnv turns a container's env into NAME=value pairs the way the kubelet would for
// literal values and downward-API fields. Other sources (Secrets, ConfigMaps, resources)
// are an error: the impersonation would be wrong without them.
func resolveEnv(pod *corev1.Pod, vars []corev1.EnvVar) ([]string, error) {
	fields := map[string]string{
		"metadata.name":           pod.Name,
		"metadata.namespace":      pod.Namespace,
		"metadata.uid":            string(pod.UID),
		"spec.nodeName":           pod.Spec.NodeName,
		"spec.serviceAccountName": pod.Spec.ServiceAccountName,
		"status.podIP":            pod.Status.PodIP,
		"status.hostIP":           pod.Status.HostIP,
	}
	env := make([]string, 0, len(vars))
	for _, v := range vars {
		switch {
		case v.ValueFrom == nil:
			env = append(env, v.Name+"="+v.Value)
		case v.ValueFrom.FieldRef != nil:
			value, ok := fields[v.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return nil, fmt.Errorf("pod %s/%s: env %s: field %q is not supported", pod.Namespace, pod.Name, v.Name, v.ValueFrom.FieldRef.FieldPath)
			}
			env = append(env, v.Name+"="+value)
		default:
			return nil, fmt.Errorf("pod %s/%s: env %s: only literal values and fieldRef are supported", pod.Namespace, pod.Name, v.Name)
		}
	}
	return env, nil
}

// GoBuild builds the Go package pkg (e.g. "./test/matching/testworker") of the checkout
// at repoRoot into WorkDir/bin/name and returns the binary's path.
func (c *Cluster) GoBuild(ctx context.Context, repoRoot, pkg, name string) (string, error) {
	bin := filepath.Join(c.WorkDir, "bin", name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}
