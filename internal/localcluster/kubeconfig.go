package localcluster

import (
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ContextName is the context of the written kubeconfig.
const ContextName = "taskroute-local"

// writeKubeconfig writes an admin kubeconfig with the certificates inline, so the file
// works from any directory (kubectl, helm, the manager).
func writeKubeconfig(path, server string, caPEM []byte, user *clientCert) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ContextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: user.certPEM, ClientKeyData: user.keyPEM}
	cfg.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: AdminUser, Namespace: "default"}
	cfg.CurrentContext = ContextName
	return clientcmd.WriteToFile(*cfg, path)
}

// WriteKubeconfigAs writes a kubeconfig that authenticates as the admin and impersonates
// user and groups. A process run with it gets exactly the permissions RBAC grants that
// identity, e.g. a chart's ServiceAccount, without a token controller or Secret tokens.
func (c *Cluster) WriteKubeconfigAs(path, user string, groups []string) error {
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	ai := cfg.AuthInfos[AdminUser].DeepCopy()
	ai.Impersonate = user
	ai.ImpersonateGroups = groups
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{user: ai}
	cfg.Contexts[ContextName].AuthInfo = user
	return clientcmd.WriteToFile(*cfg, path)
}

// ServiceAccountGroups are the groups the apiserver gives a ServiceAccount's tokens.
func ServiceAccountGroups(namespace string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}
