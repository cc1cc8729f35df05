package render

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/pkg/credentials"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// renderedPodSpec renders pool and returns its pod spec in the typed API.
func renderedPodSpec(t *testing.T, pool *v1alpha1.WorkerPool, opts Options) corev1.PodSpec {
	t.Helper()
	d, err := Deployment(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d.Spec.Template.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestUserSecurityContextWins(t *testing.T) {
	restrictedPod := &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	restrictedContainer := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	userPod := &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
	userContainer := &corev1.SecurityContext{Privileged: ptr.To(true)}

	for _, tc := range []struct {
		name          string
		pod           *corev1.PodSecurityContext
		container     *corev1.SecurityContext
		initContainer *corev1.SecurityContext
		wantPod       *corev1.PodSecurityContext
		wantContainer *corev1.SecurityContext
	}{
		{name: "none set: restricted", wantPod: restrictedPod, wantContainer: restrictedContainer},
		{name: "empty pod context counts as none", pod: &corev1.PodSecurityContext{}, wantPod: restrictedPod, wantContainer: restrictedContainer},
		{name: "pod level set", pod: userPod, wantPod: userPod, wantContainer: nil},
		{name: "container level set", container: userContainer, wantPod: nil, wantContainer: userContainer},
		{name: "init container set", initContainer: userContainer, wantPod: nil, wantContainer: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := basePool(func(p *v1alpha1.WorkerPool) {
				p.Spec.Template.Spec.SecurityContext = tc.pod
				p.Spec.Template.Spec.Containers[0].SecurityContext = tc.container
				if tc.initContainer != nil {
					p.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "example.com/init:1", SecurityContext: tc.initContainer}}
				}
			})
			spec := renderedPodSpec(t, pool, Options{MatchingAddress: "m:7233"})
			if !equality.Semantic.DeepEqual(spec.SecurityContext, tc.wantPod) {
				t.Errorf("pod securityContext = %+v, want %+v", spec.SecurityContext, tc.wantPod)
			}
			if got := spec.Containers[0].SecurityContext; !equality.Semantic.DeepEqual(got, tc.wantContainer) {
				t.Errorf("container securityContext = %+v, want %+v", got, tc.wantContainer)
			}
		})
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func TestCredentialsVolumeAndEnv(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        Options
		wantSources int
		wantEnv     map[string]string // "" value: must be absent
	}{
		{"secure default", Options{}, 2, map[string]string{workerenv.TokenFile: TokenFile, workerenv.CAFile: CAFile, workerenv.Insecure: "", workerenv.InsecureToken: ""}},
		{"auth disabled", Options{WithoutToken: true}, 1, map[string]string{workerenv.TokenFile: "", workerenv.CAFile: CAFile}},
		{"tls disabled", Options{PlaintextMatching: true}, 1, map[string]string{workerenv.TokenFile: TokenFile, workerenv.CAFile: "", workerenv.Insecure: "true", workerenv.InsecureToken: "true"}},
		{"both disabled", Options{WithoutToken: true, PlaintextMatching: true}, 0, map[string]string{workerenv.TokenFile: "", workerenv.Insecure: "true", workerenv.InsecureToken: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := basePool(func(p *v1alpha1.WorkerPool) {
				p.Spec.Template.Spec.Containers = append(p.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "example.com/proxy:1"})
			})
			spec := renderedPodSpec(t, pool, tc.opts)
			sources := 0
			for _, v := range spec.Volumes {
				if v.Name == CredentialsVolume {
					sources = len(v.Projected.Sources)
					for _, s := range v.Projected.Sources {
						if sa := s.ServiceAccountToken; sa != nil && (sa.Audience != TokenAudience || ptr.Deref(sa.ExpirationSeconds, 0) != 3600 || sa.Path != "token") {
							t.Errorf("token projection %+v", sa)
						}
						if cm := s.ConfigMap; cm != nil && (cm.Name != "taskroute-ca" || cm.Items[0].Key != "ca.crt" || cm.Items[0].Path != "ca/ca.crt") {
							t.Errorf("CA projection %+v", cm)
						}
					}
				}
			}
			if sources != tc.wantSources {
				t.Errorf("credential sources = %d, want %d", sources, tc.wantSources)
			}
			for _, c := range spec.Containers {
				mounted := false
				for _, m := range c.VolumeMounts {
					mounted = mounted || (m.Name == CredentialsVolume && m.MountPath == CredentialsDir && m.ReadOnly)
				}
				if mounted != (tc.wantSources > 0) {
					t.Errorf("container %s: credentials mounted = %v", c.Name, mounted)
				}
				env := envOf(c)
				for name, want := range tc.wantEnv {
					if got, ok := env[name]; (want == "" && ok) || got != want {
						t.Errorf("container %s: %s = %q (set %v), want %q", c.Name, name, got, ok, want)
					}
				}
			}
		})
	}
}

func TestUserCredentialsMountIsKept(t *testing.T) {
	pool := basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: CredentialsDir}}
		p.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: workerenv.TokenFile, Value: "/elsewhere/token"}}
	})
	spec := renderedPodSpec(t, pool, Options{})
	if m := spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Errorf("user's mount at %s replaced: %+v", CredentialsDir, m)
	}
	if got := envOf(spec.Containers[0])[workerenv.TokenFile]; got != "/elsewhere/token" {
		t.Errorf("user's %s overridden: %q", workerenv.TokenFile, got)
	}
}

func TestContractNamesMatchTheSDK(t *testing.T) {
	if workerenv.TokenFile != credentials.EnvTokenFile || workerenv.CAFile != credentials.EnvCAFile || workerenv.Insecure != credentials.EnvInsecure {
		t.Fatal("pkg/workerenv and pkg/credentials disagree on the credential variables")
	}
	if TokenFile != credentials.DefaultTokenFile || CAFile != credentials.DefaultCAFile {
		t.Fatalf("rendered paths %s, %s differ from the SDK defaults %s, %s", TokenFile, CAFile, credentials.DefaultTokenFile, credentials.DefaultCAFile)
	}
}
