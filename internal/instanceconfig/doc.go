// Package instanceconfig owns instance.json: the description of one Redis
// instance and its RedisFailover that the operator writes into a ConfigMap and
// the instance manager (`haredis instance run`) reads at start. It has no
// dependencies beyond the standard library so that the operator can import it
// cheaply.
package instanceconfig
