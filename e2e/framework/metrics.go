package framework

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"time"
)

// freeAddr returns a 127.0.0.1 address with a port free a moment ago, for
// a process that must listen where a test can reach it.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// NodeMetricsAddr is where a node's agent serves /metrics when started
// with it: 127.0.0.1 inside the node's namespace, reached with Scrape.
const NodeMetricsAddr = "127.0.0.1:9101"

// ScrapeAgent fetches the node agent's /metrics from inside its namespace
// (the agent listens on 127.0.0.1 there, as on a real host).
func (n *Node) ScrapeAgent() (string, error) {
	out, err := exec.Command("ip", "netns", "exec", n.NS.Name, "curl", "-sSf", "--max-time", "5", "http://"+NodeMetricsAddr+"/metrics").Output()
	if err != nil {
		return "", fmt.Errorf("scraping %s's agent: %w", n.Name, err)
	}
	return string(out), nil
}

// ScrapeController fetches the controller's /metrics.
func (c *Cluster) ScrapeController() (string, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + c.ControllerMetrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("controller /metrics: %s", resp.Status)
	}
	return string(b), err
}
