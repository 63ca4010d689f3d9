package sentinel

// PoolAdminUser is the user a pool sentinel's administrators (the
// operator) and its peers authenticate as. Everyone else is the default
// user, which may only read (PoolReaderRules).
const PoolAdminUser = "haredis-admin"

// PoolReaderRules are the rights of a pool sentinel's default user, with
// any password or none: what Sentinel-aware clients, proxies and instance
// managers ask (the address of their master, its replicas and sentinels,
// the +switch-master channel), nothing that changes a master or names
// another tenant's (no SENTINEL MASTERS, no INFO). Writing (MONITOR, SET,
// REMOVE, FAILOVER, RESET) takes the admin user.
const PoolReaderRules = "~* &* -@all +ping +hello +auth +client|setname +client|getname +client|id +role" +
	" +subscribe +psubscribe +unsubscribe +punsubscribe" +
	" +sentinel|get-master-addr-by-name +sentinel|master +sentinel|replicas +sentinel|slaves +sentinel|sentinels +sentinel|ckquorum +sentinel|myid"
