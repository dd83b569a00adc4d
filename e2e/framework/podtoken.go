package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The agent's ServiceAccount, as the manifests create it.
const (
	AgentNamespace      = "harvester-system"
	AgentServiceAccount = "harvnet-agent"
)

// AgentPod makes sure a Pod of the agent's ServiceAccount bound to node
// exists (spec.nodeName set; no kubelet runs it, it only anchors tokens) and
// returns it. The manifests' admission policy lets an agent change only the
// Node object its pod-bound token names, as on a real cluster, where the
// kubelet requests that token for the agent pod on its node.
func AgentPod(ctx context.Context, kube kubernetes.Interface, node string) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "harvnet-agent-" + node, Namespace: AgentNamespace},
		Spec: corev1.PodSpec{
			NodeName:           node,
			ServiceAccountName: AgentServiceAccount,
			Containers:         []corev1.Container{{Name: "agent", Image: "harvnet-agent:e2e"}},
		},
	}
	got, err := kube.CoreV1().Pods(AgentNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = kube.CoreV1().Pods(AgentNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && got.Spec.NodeName != node {
			return nil, fmt.Errorf("pod %s is bound to node %q, not %q", pod.Name, got.Spec.NodeName, node)
		}
	}
	return got, err
}

// AgentToken is a token of the agent's ServiceAccount bound to pod: the API
// server puts the pod's node name in its claims, which authentication
// exposes as userInfo.extra["authentication.kubernetes.io/node-name"].
// A day is longer than any test run; the API server may extend it.
func AgentToken(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod) (string, error) {
	exp := int64(24 * 60 * 60)
	tr, err := kube.CoreV1().ServiceAccounts(AgentNamespace).CreateToken(ctx, AgentServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// NodeAgentKubeconfig writes into dir a copy of base (a kubeconfig of the
// agent's ServiceAccount) whose token is bound to an agent pod on node, and
// returns its path.
func NodeAgentKubeconfig(ctx context.Context, kube kubernetes.Interface, base, dir, node string) (string, error) {
	pod, err := AgentPod(ctx, kube, node)
	if err != nil {
		return "", err
	}
	tok, err := AgentToken(ctx, kube, pod)
	if err != nil {
		return "", err
	}
	cfg, err := clientcmd.LoadFromFile(base)
	if err != nil {
		return "", err
	}
	for _, a := range cfg.AuthInfos {
		a.Token = tok
	}
	path := filepath.Join(dir, "agent-"+node+".kubeconfig")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, clientcmd.WriteToFile(*cfg, path)
}

// TokenOf is the bearer token of a kubeconfig's (first) user.
func TokenOf(kubeconfig string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return "", err
	}
	for _, a := range cfg.AuthInfos {
		if a.Token != "" {
			return a.Token, nil
		}
	}
	return "", fmt.Errorf("%s has no token", kubeconfig)
}
