package credentials

import "fmt"

// tokenAudience is the audience the service's tokens must be bound to (the manager's
// --matching-token-audience default).
const tokenAudience = "taskroute.dev/matching"

// NoTokenError is DialOptions' error when TLS is on but there is no token to send. It says
// where the token was looked for and what to do: point TASKROUTE_TOKEN_FILE at a token, or
// set TASKROUTE_INSECURE=true for a development service. Callers with their own flags for
// these (the CLI) can word the advice with errors.As.
type NoTokenError struct {
	Path    string // the file that was read
	FromEnv bool   // Path came from TASKROUTE_TOKEN_FILE; else it is DefaultTokenFile
	Err     error  // why it could not be used
	// Insecure is TASKROUTE_INSECURE=true: a token file was named but cannot be read.
	Insecure bool
}

func (e *NoTokenError) Error() string {
	if e.Insecure {
		return fmt.Sprintf("no token to authenticate with: %s (%v)", e.Where(), e.Err)
	}
	return fmt.Sprintf("no token to authenticate with: %s (%v); set %s to a ServiceAccount token with audience %s "+
		"(kubectl create token <service-account> --audience=%s > token), or %s=true for a development service "+
		"without auth or TLS (manager --standalone --matching-auth=disabled --matching-tls=disabled)",
		e.Where(), e.Err, EnvTokenFile, tokenAudience, tokenAudience, EnvInsecure)
}

func (e *NoTokenError) Unwrap() error { return e.Err }

// Where names the file that was looked for and why it was that one.
func (e *NoTokenError) Where() string {
	if e.FromEnv {
		return fmt.Sprintf("%s=%s", EnvTokenFile, e.Path)
	}
	return fmt.Sprintf("%s is not set and %s (where the operator mounts the token in worker pods) is missing", EnvTokenFile, e.Path)
}
