package localcluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/internal/render"
)

// PodPlacement is where one worker pod landed.
type PodPlacement struct {
	Namespace, Pool, Pod, Node string
	Phase                      corev1.PodPhase
	// NodeClass is the node's node.taskroute.dev/class label (gpu, cpu), for reading.
	NodeClass string
}

// WorkerPlacements lists the worker pods of every pool in namespace ("" for all), sorted
// by pool and pod name.
func (c *Cluster) WorkerPlacements(ctx context.Context, namespace string) ([]PodPlacement, error) {
	pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: render.LabelPool})
	if err != nil {
		return nil, err
	}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	class := map[string]string{}
	for _, n := range nodes.Items {
		class[n.Name] = n.Labels["node.taskroute.dev/class"]
	}
	out := make([]PodPlacement, 0, len(pods.Items))
	for _, p := range pods.Items {
		out = append(out, PodPlacement{
			Namespace: p.Namespace, Pool: p.Labels[render.LabelPool], Pod: p.Name,
			Node: p.Spec.NodeName, Phase: p.Status.Phase, NodeClass: class[p.Spec.NodeName],
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pool != out[j].Pool {
			return out[i].Pool < out[j].Pool
		}
		return out[i].Pod < out[j].Pod
	})
	return out, nil
}

// WritePlacements prints placements as a table: pool, pod, node (and its class), phase.
func WritePlacements(w io.Writer, ps []PodPlacement) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOOL\tPOD\tNODE\tNODE CLASS\tPHASE")
	for _, p := range ps {
		node := p.Node
		if node == "" {
			node = "<unscheduled>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Pool, p.Pod, node, p.NodeClass, p.Phase)
	}
	_ = tw.Flush()
}
