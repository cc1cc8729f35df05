package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/version"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/credentials"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// defaultAddress is the matching service's port on this machine (kubectl port-forward or
// a standalone manager).
const defaultAddress = "localhost:7233"

// exitCode ends the command with a status and no further message (the command printed its
// outcome already).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// globals are the flags every command shares.
type globals struct {
	address   string
	namespace string
	output    string
	timeout   time.Duration
	tokenFile string
	caFile    string
	insecure  bool
	stdout    io.Writer
	stderr    io.Writer
	now       func() time.Time
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, now: time.Now}
	root := &cobra.Command{
		Use:   "taskroute",
		Short: "Add tasks to taskroute queues, wait for them, and inspect queues",
		Long: `taskroute talks to the taskroute matching service over gRPC.

The service address comes from --address, else TASKROUTE_ADDRESS, else ` + defaultAddress + `.
The namespace comes from --namespace, else TASKROUTE_NAMESPACE, else "default".

Calls are authenticated like a worker's: a ServiceAccount token (--token-file, else
TASKROUTE_TOKEN_FILE; from outside the cluster use "kubectl create token <sa>
--audience=taskroute.dev/matching") over TLS verified against --ca-file (else
TASKROUTE_CA_FILE, else the system roots). --insecure (TASKROUTE_INSECURE=true) talks
plaintext, sending no token, to a development server started with --matching-auth=disabled
--matching-tls=disabled.`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output: want table or json, got %q", g.output)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	address := os.Getenv(workerenv.Address)
	if address == "" {
		address = defaultAddress
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.address, "address", address, "host:port of the matching service")
	pf.StringVarP(&g.namespace, "namespace", "n", "", `namespace of the queues (default TASKROUTE_NAMESPACE or "default")`)
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "deadline of each call (wait commands: of the whole wait; 0 = none)")
	pf.StringVar(&g.tokenFile, "token-file", os.Getenv(workerenv.TokenFile), "file holding the ServiceAccount token sent with every call")
	pf.StringVar(&g.caFile, "ca-file", os.Getenv(workerenv.CAFile), "CA bundle (PEM) the server's certificate is verified against")
	pf.BoolVar(&g.insecure, "insecure", os.Getenv(workerenv.Insecure) == "true", "plaintext and no token, for a development server (--matching-tls=disabled)")

	get := newGetCommand(g)
	get.AddCommand(newGetQueueConfigCommand(g), newGetSessionCommand(g))
	root.AddCommand(
		newAddCommand(g),
		get,
		newWaitCommand(g),
		newCancelCommand(g),
		newDescribeCommand(g),
		newListCommand(g),
		newSetCommand(g),
		newResetCommand(g),
		newCreateCommand(g),
		newCompleteCommand(g),
	)
	return root
}

// dial connects with the global flags. Credentials go through the same path as a
// worker's (pkg/credentials reads them from the environment), so the flags are copied
// into this process's environment first.
func (g *globals) dial(ctx context.Context) (*client.Client, error) {
	for name, value := range map[string]string{workerenv.TokenFile: g.tokenFile, workerenv.CAFile: g.caFile} {
		if value != "" {
			os.Setenv(name, value)
		}
	}
	os.Setenv(workerenv.Insecure, strconv.FormatBool(g.insecure))
	opts := []client.Option{client.WithEnvironmentCredentials()}
	if g.namespace != "" {
		opts = append(opts, client.WithNamespace(g.namespace))
	}
	opts = append(opts, client.WithCallTimeout(g.timeout))
	return client.Dial(ctx, g.address, opts...)
}

// withClient dials with the global flags, runs fn and closes the connection.
func (g *globals) withClient(cmd *cobra.Command, fn func(*client.Client) error) error {
	c, err := g.dial(cmd.Context())
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// callContext bounds a command by --timeout.
func (g *globals) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, g.timeout)
}

// describeError makes a gRPC error read like a sentence: the code in words and the
// service's message (which names the field at fault).
func describeError(err error) string {
	var noToken *credentials.NoTokenError
	if errors.As(err, &noToken) {
		return describeNoToken(noToken)
	}
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	switch st.Code() {
	case codes.Unavailable:
		return "matching service unavailable: " + st.Message()
	case codes.DeadlineExceeded:
		return "timed out: " + st.Message() + " (raise --timeout?)"
	}
	return fmt.Sprintf("%s: %s", st.Code(), st.Message())
}

// describeNoToken words a missing token with the CLI's flags (--token-file, which the CLI
// passes on as TASKROUTE_TOKEN_FILE, and --insecure).
func describeNoToken(e *credentials.NoTokenError) string {
	where := fmt.Sprintf("no --token-file given and %s (where the operator mounts the token in worker pods) is missing", e.Path)
	if e.FromEnv {
		where = fmt.Sprintf("--token-file %s: %v", e.Path, e.Err)
	}
	if e.Insecure {
		return "no token to authenticate with: " + where
	}
	return "no token to authenticate with: " + where + `.
  For a development service (manager --standalone --matching-auth=disabled --matching-tls=disabled), pass --insecure (or set TASKROUTE_INSECURE=true).
  For a cluster, pass --token-file with a ServiceAccount token:
    kubectl create token <service-account> --audience=taskroute.dev/matching > token`
}
