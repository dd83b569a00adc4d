package main

import (
	"context"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// writeVerbs are the verbs of apiserver_request_total that change state.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true, "DELETECOLLECTION": true}

// apiWrites are the API server's own counts of successful and failed
// writes, by "group/resource[/subresource]".
type apiWrites map[string]float64

// scrapeWrites reads apiserver_request_total from the API server's
// /metrics.
func scrapeWrites(ctx context.Context, kube kubernetes.Interface) (apiWrites, error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	out := apiWrites{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		labels := parseLabels(line[len("apiserver_request_total{"):end])
		if !writeVerbs[labels["verb"]] {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		key := labels["group"] + "/" + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		out[key] += v
	}
	return out, nil
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=\"")
		if !ok {
			break
		}
		v, rest, _ := strings.Cut(rest, "\"")
		out[k] = v
		s = strings.TrimPrefix(rest, ",")
	}
	return out
}

// since returns the writes counted after base, by key, leaving out keys
// that did not move.
func (w apiWrites) since(base apiWrites) apiWrites {
	out := apiWrites{}
	for k, v := range w {
		if d := v - base[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// sum of the keys that match keep.
func (w apiWrites) sum(keep func(key string) bool) float64 {
	t := 0.0
	for k, v := range w {
		if keep(k) {
			t += v
		}
	}
	return t
}

// harvnetNodes matches writes to harvnet's Node objects and their status.
func harvnetNodes(key string) bool {
	return strings.HasPrefix(key, "network.harvesterhci.io/nodes")
}
