package framework

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Identities the control plane accepts besides admin. They are the
// ServiceAccounts of manifests/, so the tests exercise the shipped RBAC.
const (
	AgentUser      = "system:serviceaccount:harvester-system:harvnet-agent"
	ControllerUser = "system:serviceaccount:harvester-system:harvnet-controller"
)

// ControlPlane is a kube-apiserver and etcd started by scripts/.
type ControlPlane struct {
	Root   string // the repository
	Dir    string
	Port   int
	tokens map[string]string // user -> token
}

// StartControlPlane starts a fresh control plane with state in dir.
func StartControlPlane(root, dir string) (*ControlPlane, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{Root: root, Dir: dir, Port: port, tokens: map[string]string{}}
	var extra []byte
	for _, u := range []string{AgentUser, ControllerUser} {
		cp.tokens[u] = randomToken()
		extra = append(extra, fmt.Sprintf("%s,%s,%s,\"system:serviceaccounts,system:serviceaccounts:harvester-system\"\n", cp.tokens[u], u, u)...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	extraFile := filepath.Join(dir, "extra-tokens.csv")
	if err := os.WriteFile(extraFile, extra, 0o600); err != nil {
		return nil, err
	}
	if err := cp.script("controlplane-up.sh", nil, "HARVNET_EXTRA_TOKENS="+extraFile); err != nil {
		return cp, err // the caller's Stop ends whatever did start
	}
	return cp, nil
}

func (c *ControlPlane) script(name string, args []string, env ...string) error {
	cmd := exec.Command(filepath.Join(c.Root, "scripts", name), append([]string{c.Dir}, args...)...)
	cmd.Env = append(os.Environ(), append(env, "HARVNET_APISERVER_PORT="+strconv.Itoa(c.Port))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}

// zombie reports whether pid has exited, all its threads with it, and
// waits to be reaped. The main thread of a killed Go process can be a
// zombie while its other threads still exit, and those hold the process's
// sockets (the API server's port) until the last one is gone.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) || b[i+2] != 'Z' {
		return false
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err == nil && len(tasks) <= 1
}

// StopAPIServer stops only the API server; etcd keeps the data.
func (c *ControlPlane) StopAPIServer() error {
	return c.script("controlplane-down.sh", []string{"apiserver"})
}

// KillAPIServer kills the API server at once (SIGKILL), as a crash would,
// where StopAPIServer lets it shut down gracefully (failing /readyz
// first); etcd keeps the data and StartAPIServer starts it again.
func (c *ControlPlane) KillAPIServer() error {
	b, err := os.ReadFile(filepath.Join(c.Dir, "kube-apiserver.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("kube-apiserver.pid: %w", err)
	}
	// Only our own API server: its command line names our directory.
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cmd), c.Dir+"/") {
		return fmt.Errorf("pid %d is not this control plane's API server", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	// Dead is gone or a zombie: its sockets are closed either way, and
	// who reaps it (the script's shell, or init) may take its time on a
	// loaded machine.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		if err := syscall.Kill(pid, 0); err != nil || zombie(pid) {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	return fmt.Errorf("kube-apiserver %d still runs 10s after SIGKILL", pid)
}

// StartAPIServer starts the API server again on the same port and data.
func (c *ControlPlane) StartAPIServer() error { return c.script("controlplane-up.sh", nil) }

// Stop stops everything.
func (c *ControlPlane) Stop() error { return c.script("controlplane-down.sh", nil) }

// AdminKubeconfig is the path of the admin kubeconfig.
func (c *ControlPlane) AdminKubeconfig() string { return filepath.Join(c.Dir, "admin.kubeconfig") }

// Admin returns a rest config with full rights.
func (c *ControlPlane) Admin() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig())
}

// Kubeconfig writes a kubeconfig for user that talks to server, and returns its path.
func (c *ControlPlane) Kubeconfig(user, server string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(c.AdminKubeconfig())
	if err != nil {
		return "", err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	for _, a := range cfg.AuthInfos {
		a.Token = c.tokens[user]
	}
	sum := sha256.Sum256([]byte(server))
	path := filepath.Join(c.Dir, fmt.Sprintf("%s-%s.kubeconfig", filepath.Base(user), hex.EncodeToString(sum[:4])))
	return path, clientcmd.WriteToFile(*cfg, path)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
