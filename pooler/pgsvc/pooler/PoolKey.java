package pgsvc.pooler;

/**
 * A pool serves one (database entry, user) pair, and with a router service one member endpoint too; with a forced
 * user every client of the database shares one pool. The endpoint is null for the [databases] entry's own host.
 */
record PoolKey(String database, String user, Endpoint endpoint) {
    @Override
    public String toString() {
        return endpoint == null ? database + "/" + user : database + "/" + user + "@" + endpoint;
    }
}
