package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// The manifests' ValidatingAdmissionPolicy, against the real API server
// with a real pod-bound token: the agent's ServiceAccount, holding a token
// bound to a Pod on n1, may patch n1's object (a finalizer) and status, and
// is denied on n2's status and spec, and on delete, each with the policy's
// message; a token of the same ServiceAccount without a node claim is
// denied too. The controller's rights are untouched (it creates both
// objects when the network is enabled).
func TestAdmissionAgentOwnNodeOnly(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	enable(t, "eth1", nodes...)
	// The agents stop so the test's own writes are not overwritten.
	for _, n := range nodes {
		n.Agent.Stop()
	}

	pod, err := framework.AgentPod(ctx(t), cluster.Kube, "n1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := framework.AgentToken(ctx(t), cluster.Kube, pod)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeClaim(t, tok); got != "n1" {
		t.Fatalf("the pod-bound token's kubernetes.io.node.name claim is %q, want n1", got)
	}
	kube, net := tokenClients(t, tok)
	// What authentication makes of it: the claim becomes the extra the policy reads.
	ssr, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ui := ssr.Status.UserInfo
	if ui.Username != framework.AgentUser || strings.Join(ui.Extra["authentication.kubernetes.io/node-name"], ",") != "n1" {
		t.Fatalf("SelfSubjectReview: user %q extra %v, want %s with node-name [n1]", ui.Username, ui.Extra, framework.AgentUser)
	}

	nodesAPI := net.NetworkV1alpha1().Nodes()
	merge := func(name, patch string, sub ...string) error {
		_, err := nodesAPI.Patch(ctx(t), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, sub...)
		return err
	}
	// Its own node: a status change and a finalizer are admitted and stored.
	if err := merge("n1", `{"status":{"bridge":"admission-test"}}`, "status"); err != nil {
		t.Fatalf("n1's agent token patching n1's status: %v", err)
	}
	n1, err := cluster.HNode(t, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n1.Status.Bridge != "admission-test" {
		t.Fatalf("n1's status.bridge is %q after the patch", n1.Status.Bridge)
	}
	fin, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": append(n1.Finalizers, "e2e.harvnet.io/admission")}})
	if err := merge("n1", string(fin)); err != nil {
		t.Fatalf("n1's agent token adding a finalizer to n1: %v", err)
	}
	fin, _ = json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": n1.Finalizers}})
	if err := merge("n1", string(fin)); err != nil {
		t.Fatalf("n1's agent token removing its finalizer from n1: %v", err)
	}

	// Another node's object: denied, saying why.
	const other = "harvnet-agent on node n1 may change only its own Node object and status, not Node n2"
	denied(t, "n2's status", merge("n2", `{"status":{"bridge":"admission-test"}}`, "status"), other+" (status)")
	denied(t, "n2's spec", merge("n2", `{"spec":{"network":{"nic":"eth2"}}}`), other)
	// Delete: RBAC already refuses it (the agent has no delete verb); the
	// policy would too.
	if err := nodesAPI.Delete(ctx(t), "n2", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("n1's agent token deleting n2: %v, want Forbidden", err)
	}

	// The same ServiceAccount without a node claim (a static token here; a
	// Secret-based token on a cluster) changes nothing.
	cfg, err := cluster.CP.Admin()
	if err != nil {
		t.Fatal(err)
	}
	path, err := cluster.CP.Kubeconfig(framework.AgentUser, cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	static, err := framework.TokenOf(path)
	if err != nil {
		t.Fatal(err)
	}
	_, net2 := tokenClients(t, static)
	_, err = net2.NetworkV1alpha1().Nodes().Patch(ctx(t), "n1", types.MergePatchType, []byte(`{"status":{"bridge":"x"}}`), metav1.PatchOptions{}, "status")
	denied(t, "a token without node claim", err, "this token carries no node claim")

	// Nothing denied was stored.
	n2, err := cluster.HNode(t, "n2")
	if err != nil {
		t.Fatal(err)
	}
	if n2.Status.Bridge == "admission-test" || n2.Spec.Network.NIC == "eth2" || n2.DeletionTimestamp != nil {
		t.Fatalf("n2 changed despite the denials: spec %+v, status.bridge %q, deleting %v", n2.Spec.Network, n2.Status.Bridge, n2.DeletionTimestamp)
	}
}

// denied fails the test unless err is a Forbidden from the admission policy
// with a message containing want.
func denied(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("%s: %v, want denied by the admission policy", what, err)
		return
	}
	if !strings.Contains(err.Error(), "harvnet-agent-own-node") || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: denied with %q, want the policy harvnet-agent-own-node saying %q", what, err, want)
	}
}

// tokenClients are clients of the test's API server that authenticate with tok.
func tokenClients(t *testing.T, tok string) (kubernetes.Interface, versioned.Interface) {
	t.Helper()
	admin, err := cluster.CP.Admin()
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	net, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube, net
}

// nodeClaim is the node name a service account JWT carries
// (kubernetes.io.node.name), read without verifying: the API server's
// SelfSubjectReview checks what it makes of it.
func nodeClaim(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		K8s struct {
			Node struct{ Name string } `json:"node"`
			Pod  struct{ Name string } `json:"pod"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.K8s.Node.Name
}
