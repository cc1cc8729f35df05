// Package credentials gives matching-service clients (the SDK, the CLI, services) their
// identity and their trust: a gRPC PerRPCCredentials that sends a Kubernetes
// ServiceAccount token read from a file and follows the kubelet's rotations of it, and
// transport credentials that verify the server against a CA file that may also rotate.
//
// In a worker pod the operator mounts both and sets TASKROUTE_TOKEN_FILE and
// TASKROUTE_CA_FILE; DialOptions builds everything from the environment.
package credentials
