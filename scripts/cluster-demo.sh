#!/usr/bin/env bash
# make demo-cluster: harvnet as an operator sees it, on the kubelet cluster
# of scripts/cluster-up.sh: the image built and loaded, the chart installed
# with helm into harvester-system, the VLAN network switched on with eth1,
# a VM network on VLAN 100; then `kubectl get pods` and `kubectl get hnodes`,
# and it stays up until Ctrl-C, when everything is removed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/_output/demo-cluster
export HARVNET_CLUSTER_DIR=$dir HARVNET_CLUSTER_PREFIX=hc
k() { "$root/scripts/cluster-kubectl.sh" "$@"; }

"$root/scripts/install-tools.sh" --cluster
archive=$("$root/scripts/image.sh" | tail -n 1)
tag=$(basename "$archive" .oci.tar)
tag=${tag#harvnet-}
sleeper=
trap '[[ -n $sleeper ]] && kill $sleeper 2>/dev/null; "$root/scripts/cluster-down.sh" "$dir"' EXIT
trap 'exit 130' INT TERM
HARVNET_IMAGES=$archive "$root/scripts/cluster-up.sh" "$dir" >/dev/null
k create namespace harvester-system >/dev/null
k label namespace harvester-system pod-security.kubernetes.io/enforce=privileged >/dev/null
k apply -f "$root/crds/k8s.cni.cncf.io_network-attachment-definitions.yaml" >/dev/null # Multus's, on Harvester
k --helm install harvnet "$root/manifests/chart/harvnet" -n harvester-system \
  --set image.tag="$tag" --set 'agent.uplinkTypes=device\,bond\,veth' --wait --timeout 5m >/dev/null
until k get clusternetwork vlan >/dev/null 2>&1; do sleep 1; done
k patch clusternetwork vlan --type merge -p '{"spec":{"enable":true,"defaultPhysicalNIC":"eth1"}}' >/dev/null
k apply -f - >/dev/null <<'YAML'
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: vms, namespace: default}
spec:
  config: '{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}'
YAML
until [[ $(k get hnodes -o name 2>/dev/null | wc -l) -eq 2 ]]; do sleep 1; done
sleep 5 # let the agents report
echo "\$ kubectl get nodes -o wide"; k get nodes -o wide
echo; echo "\$ kubectl get pods -n harvester-system -o wide"; k get pods -n harvester-system -o wide
echo; echo "\$ kubectl get hnodes -o wide"; k get hnodes -o wide
cat <<TXT

Poke at it (another terminal, as root):
  HARVNET_CLUSTER_DIR=$dir scripts/cluster-kubectl.sh get hnodes -o yaml
  HARVNET_CLUSTER_DIR=$dir scripts/cluster-kubectl.sh patch hnode n2 --type merge -p '{"spec":{"network":{"nic":"eth0"}}}'
  ip -n hc-n2 -br addr                       # the node's own view
  HARVNET_CLUSTER_DIR=$dir scripts/cluster-kubectl.sh --helm uninstall harvnet -n harvester-system
Ctrl-C removes everything.
TXT
sleep infinity &
sleeper=$!
wait $sleeper
