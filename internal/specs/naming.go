package specs

import (
	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Object names that api/v1 does not define.

// InstanceConfigMapName holds instance.json.
func InstanceConfigMapName(rf *haredisv1.RedisFailover) string { return rf.Name + "-instance" }

// SentinelHeadlessServiceName gives every sentinel a stable DNS name.
func SentinelHeadlessServiceName(rf *haredisv1.RedisFailover) string {
	return rf.SentinelServiceName() + "-headless"
}

// ServiceAccountName runs the Redis and sentinel pods.
func ServiceAccountName(rf *haredisv1.RedisFailover) string { return rf.Name + "-haredis" }

// RedisPDBName and SentinelPDBName are the PodDisruptionBudgets.
func RedisPDBName(rf *haredisv1.RedisFailover) string    { return rf.Name + "-redis" }
func SentinelPDBName(rf *haredisv1.RedisFailover) string { return rf.Name + "-sentinel" }

// InternalSecretName holds what haredis's own pods need and applications
// never get: the password in force (copied from the source Secret when
// first used, never changed behind running pods) and the manager token.
func InternalSecretName(rf *haredisv1.RedisFailover) string { return rf.Name + "-internal" }

// PasswordSecretRef is the Secret and key the user's password comes from:
// spec.auth.passwordSecret, else the generated NAME-auth.
func PasswordSecretRef(rf *haredisv1.RedisFailover) (name, key string) {
	if ps := rf.Spec.Auth.PasswordSecret; ps != nil {
		return ps.Name, ps.Key
	}
	return rf.AuthSecretName(), PasswordKey
}
