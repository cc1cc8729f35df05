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
