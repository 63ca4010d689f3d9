// Package v1 holds the haredis.dev/v1 API: the RedisFailover kind and the types
// it is made of. It is kept free of controller code so that other projects can
// import it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=haredis.dev
package v1
