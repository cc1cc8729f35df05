package render

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/taskroute/taskroute/pkg/workerenv"
)

// Where worker pods find their matching-service credentials (docs/worker-contract.md).
const (
	// CredentialsVolume is one projected volume with the token and the CA bundle, so both
	// live under one read-only mount (a mount nested in a read-only projected volume
	// could not create its mount point).
	CredentialsVolume   = "taskroute-credentials"
	CredentialsDir      = "/var/run/secrets/taskroute"
	TokenPath           = "token"
	CAPath              = "ca/ca.crt"
	TokenFile           = CredentialsDir + "/" + TokenPath
	CAFile              = CredentialsDir + "/" + CAPath
	TokenAudience       = "taskroute.dev/matching"
	TokenExpiration     = int64(3600)
	CABundleConfigMap   = "taskroute-ca"
	caBundleConfigMapID = "ca.crt"
)

// credentialsEnv is the credentials part of the contract for opts.
func credentialsEnv(opts Options) []corev1.EnvVar {
	var env []corev1.EnvVar
	if !opts.WithoutToken {
		env = append(env, corev1.EnvVar{Name: workerenv.TokenFile, Value: TokenFile})
	}
	if opts.PlaintextMatching {
		env = append(env, corev1.EnvVar{Name: workerenv.Insecure, Value: "true"})
		if !opts.WithoutToken {
			// The manager checks tokens but serves plaintext: the admin chose to let the
			// token travel in clear, so the SDK is told so by name.
			env = append(env, corev1.EnvVar{Name: workerenv.InsecureToken, Value: "true"})
		}
	} else {
		env = append(env, corev1.EnvVar{Name: workerenv.CAFile, Value: CAFile})
	}
	return env
}

// applyCredentials adds the projected token and the CA bundle (ConfigMap taskroute-ca,
// published into the namespace by the manager) as one volume, mounted read-only into
// every container. A volume the user already named CredentialsVolume is left alone, as
// is a container that mounts something at CredentialsDir itself.
func applyCredentials(spec *corev1.PodSpec, opts Options) {
	var sources []corev1.VolumeProjection
	if !opts.WithoutToken {
		sources = append(sources, corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: TokenAudience, ExpirationSeconds: ptr.To(TokenExpiration), Path: TokenPath,
		}})
	}
	if !opts.PlaintextMatching {
		sources = append(sources, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: CABundleConfigMap},
			Items:                []corev1.KeyToPath{{Key: caBundleConfigMapID, Path: CAPath}},
		}})
	}
	if len(sources) == 0 {
		return
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == CredentialsVolume }) {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: CredentialsVolume, VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: sources, DefaultMode: ptr.To(int32(0o444))},
		}})
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == CredentialsVolume || m.MountPath == CredentialsDir
		}) {
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: CredentialsVolume, MountPath: CredentialsDir, ReadOnly: true})
	}
}

// applyRestrictedSecurityContext gives a pod whose template sets no security context at
// all the restricted Pod Security Standard: non-root, RuntimeDefault seccomp, no
// privilege escalation, no capabilities. A template that sets any security context (pod
// or container level) is the user's decision and kept as written: mixing our defaults
// into it could contradict it (say runAsUser: 0 in a container against our pod-level
// runAsNonRoot) and stop the pod from starting.
func applyRestrictedSecurityContext(spec *corev1.PodSpec) {
	if spec.SecurityContext != nil && !isEmptyPodSecurityContext(spec.SecurityContext) {
		return
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.SecurityContext != nil {
			return
		}
	}
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	restricted := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	for i := range spec.InitContainers {
		spec.InitContainers[i].SecurityContext = restricted()
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = restricted()
	}
}

func isEmptyPodSecurityContext(sc *corev1.PodSecurityContext) bool {
	return sc == nil || equality.Semantic.DeepEqual(*sc, corev1.PodSecurityContext{})
}
