// Package specs builds the Kubernetes objects a RedisFailover owns: Pods and
// PVCs of the instances, sentinel Pods, Services, Secrets, ConfigMaps,
// PodDisruptionBudgets and RBAC. Builders are pure functions of the
// RedisFailover and a few inputs, so they are tested with golden files; the
// controller decides when to create, update or delete what they build.
package specs
