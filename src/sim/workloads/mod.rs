//! Simulated kube-controller-manager and kubelet: Deployments, ReplicaSets and pods.
